package testkeys

import (
	"context"
	"crypto/sha512"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// FS holds n<N>t<T>/keygen_data_<i>.json for each committed committee,
// embedded, so the simulator, the devnet and the benchmarks run real tss
// from any directory without generating safe primes.
//
//go:embed n*t*
var FS embed.FS

// Peer is the peer id of party i of the test keys: the same ids as
// eventstest.Peer, without importing test code.
func Peer(i int) events.PeerID {
	id := []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}
	var b [8]byte
	for j := range 8 {
		b[7-j] = byte(uint64(i) >> (8 * j))
	}
	sum := sha512.Sum512_256(append([]byte("peer"), b[:]...))
	return events.PeerID(append(id, sum[:]...))
}

// Dir is where the test keys of a committee of n with threshold t live
// under base.
func Dir(base string, n, t int) string {
	return filepath.Join(base, fmt.Sprintf("n%dt%d", n, t))
}

// Generate makes the test keys of a committee of n (threshold t):
// pre-parameters for each party (the slow part), then a real keygen among
// Peer(0..n-1) over an in-memory network. Each party's save data goes to
// Dir(base, n, t)/keygen_data_<i>.json, tss-lib's own fixture format.
func Generate(ctx context.Context, base string, n, t int, progress func(string)) error {
	dir := Dir(base, n, t)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pre := make([]keygen.LocalPreParams, n)
	for i := range n {
		start := time.Now()
		p, err := keygen.GeneratePreParamsWithContext(ctx, 2)
		if err != nil {
			return fmt.Errorf("pre-parameters %d of %d: %w", i+1, n, err)
		}
		pre[i] = *p
		progress(fmt.Sprintf("pre-parameters %d of %d in %.1f s", i+1, n, time.Since(start).Seconds()))
	}
	committee := make([]events.PeerID, n)
	for i := range n {
		committee[i] = Peer(i)
	}
	net := tss.NewMemoryNetwork(committee)
	session := sha512.Sum512_256([]byte(fmt.Sprintf("fixtures n%d t%d", n, t)))
	results := make([]tss.Result[*keygen.LocalPartySaveData], n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := tss.Keygen{Session: session, Self: committee[i], Committee: committee, Threshold: t, PreParams: pre[i]}
			results[i] = k.Run(ctx, net.Inbox(committee[i]), net.Sender(committee[i]))
		}()
	}
	wg.Wait()
	for i, res := range results {
		if res.Outcome != events.OutcomeSuccess {
			return fmt.Errorf("keygen party %d: %s: %v", i, res.Outcome, res.Err)
		}
		data, err := json.MarshalIndent(res.Value, "", " ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("keygen_data_%d.json", i)), data, 0o644); err != nil {
			return err
		}
	}
	progress(fmt.Sprintf("keygen n=%d t=%d in %.1f s", n, t, time.Since(start).Seconds()))
	return nil
}

// Load reads the test keys Generate wrote, from fsys (FS: the committed
// ones; os.DirFS: a directory).
func Load(fsys fs.FS, n, t int) ([]keygen.LocalPartySaveData, error) {
	keys := make([]keygen.LocalPartySaveData, n)
	for i := range n {
		name := path.Join(fmt.Sprintf("n%dt%d", n, t), fmt.Sprintf("keygen_data_%d.json", i))
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("no test key for a committee of %d with t=%d (committed: 5/2, 7/4, 10/6; make testkeys writes more): %w", n, t, err)
		}
		if err := json.Unmarshal(data, &keys[i]); err != nil {
			return nil, fmt.Errorf("test key %s: %w", name, err)
		}
		for _, x := range keys[i].BigXj {
			x.SetCurve(tsslib.S256())
		}
		keys[i].ECDSAPub.SetCurve(tsslib.S256())
	}
	return keys, nil
}
