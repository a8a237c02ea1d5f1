package tss

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
)

// FixturePeer is the peer id of party i of the committed test fixtures:
// the same ids as eventstest.Peer, without importing test code.
func FixturePeer(i int) events.PeerID {
	id := []byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}
	var b [8]byte
	for j := range 8 {
		b[7-j] = byte(uint64(i) >> (8 * j))
	}
	sum := sha512.Sum512_256(append([]byte("peer"), b[:]...))
	return events.PeerID(append(id, sum[:]...))
}

// FixtureDir is where the fixtures of a committee of n with threshold t
// live under base.
func FixtureDir(base string, n, t int) string {
	return filepath.Join(base, fmt.Sprintf("n%dt%d", n, t))
}

// GenerateFixtures makes the key data of a committee of n (threshold t)
// for tests: pre-parameters for each party (the slow part), then a real
// keygen among FixturePeer(0..n-1) over an in-memory network. Each party's
// save data goes to DIR/n<n>t<t>/keygen_data_<i>.json, tss-lib's own
// fixture format.
func GenerateFixtures(ctx context.Context, base string, n, t int, progress func(string)) error {
	dir := FixtureDir(base, n, t)
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
		committee[i] = FixturePeer(i)
	}
	net := NewMemoryNetwork(committee)
	session := sha512.Sum512_256([]byte(fmt.Sprintf("fixtures n%d t%d", n, t)))
	results := make([]Result[*keygen.LocalPartySaveData], n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := Keygen{Session: session, Self: committee[i], Committee: committee, Threshold: t, PreParams: pre[i]}
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

// LoadFixtures reads the key data GenerateFixtures wrote, from fsys
// (fixtures.FS: the committed ones; os.DirFS: a directory).
func LoadFixtures(fsys fs.FS, n, t int) ([]keygen.LocalPartySaveData, error) {
	keys := make([]keygen.LocalPartySaveData, n)
	for i := range n {
		name := path.Join(fmt.Sprintf("n%dt%d", n, t), fmt.Sprintf("keygen_data_%d.json", i))
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("no test key for a committee of %d with t=%d (committed: 5/2, 7/4, 10/6; make fixtures writes more): %w", n, t, err)
		}
		if err := json.Unmarshal(data, &keys[i]); err != nil {
			return nil, fmt.Errorf("fixture %s: %w", name, err)
		}
		for _, x := range keys[i].BigXj {
			x.SetCurve(curve())
		}
		keys[i].ECDSAPub.SetCurve(curve())
	}
	return keys, nil
}
