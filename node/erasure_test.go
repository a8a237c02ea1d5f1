package node

import (
	"context"
	"crypto/sha512"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

// regroupKeys is a real regroup of the 5/2 test key: tss-lib resharing
// among five peers, old parties 0, 1, 2 handing the key to a new
// committee of 0, 1, 2 (threshold 2). The test node is peer 0. other is
// a key of another group (the 7/4 test key, peers 0-4 among its
// members), as a keygen that replaces the key would make.
type regroupKeys struct {
	ids             []crypto.PrivKey
	peers           []events.PeerID
	oldData         []keygen.LocalPartySaveData
	newData         []*keygen.LocalPartySaveData
	otherData       []keygen.LocalPartySaveData
	old, new, other *events.KeyPublished
}

var (
	regroupOnce sync.Once
	regroup     *regroupKeys
	regroupErr  error
)

// realRegroup runs the resharing once per test binary (about 30 s of
// Paillier proofs).
func realRegroup(t *testing.T) *regroupKeys {
	t.Helper()
	regroupOnce.Do(func() { regroup, regroupErr = runRegroup() })
	if regroupErr != nil {
		t.Fatal(regroupErr)
	}
	return regroup
}

func runRegroup() (*regroupKeys, error) {
	r := &regroupKeys{}
	var err error
	if r.oldData, err = testkeys.Load(testkeys.FS, 5, 2); err != nil {
		return nil, err
	}
	if r.otherData, err = testkeys.Load(testkeys.FS, 7, 4); err != nil {
		return nil, err
	}
	seed := rand.NewChaCha8([32]byte{'e', 'r', 'a', 's', 'e'})
	for range 7 {
		key, _, err := crypto.GenerateEd25519Key(seed)
		if err != nil {
			return nil, err
		}
		pid, _ := peer.IDFromPrivateKey(key)
		r.ids, r.peers = append(r.ids, key), append(r.peers, events.PeerID(pid))
	}
	parties := func(data []keygen.LocalPartySaveData) []tss.Party {
		out := make([]tss.Party, len(data))
		for i := range data {
			out[i] = tss.Party{Peer: r.peers[i], Key: data[i].ShareID}
		}
		return out
	}
	if r.old, err = tss.PublishKey(&r.oldData[0], parties(r.oldData), 2); err != nil {
		return nil, err
	}
	r.old.Address = "vault"
	if r.other, err = tss.PublishKey(&r.otherData[0], parties(r.otherData), 4); err != nil {
		return nil, err
	}

	session := sha512.Sum512_256([]byte("erasure test regroup"))
	old := parties(r.oldData)[:3]
	committee := r.peers[:3]
	net := tss.NewMemoryNetwork(committee)
	var wg sync.WaitGroup
	results := make([]tss.Result[*keygen.LocalPartySaveData], len(committee))
	for i := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs := tss.Resharing{Session: session, Self: old[i].Peer, Old: old, New: committee, OldThreshold: 2, NewThreshold: 2, Key: &r.oldData[i]}
			rs.Run(context.Background(), false, net.SideInbox(old[i].Peer, tss.SideOld), net.Sender(old[i].Peer))
		}()
	}
	for i := range committee {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pre := r.oldData[(i+3)%5].LocalPreParams // distinct pre-parameters per new party
			rs := tss.Resharing{Session: session, Self: committee[i], Old: old, New: committee, OldThreshold: 2, NewThreshold: 2, PreParams: &pre}
			results[i] = rs.Run(context.Background(), true, net.SideInbox(committee[i], tss.SideNew), net.Sender(committee[i]))
		}()
	}
	wg.Wait()
	for i := range old {
		if r.oldData[i].Xi.Sign() == 0 {
			return nil, fmt.Errorf("the resharing zeroed old party %d's share in its caller's data", i)
		}
	}
	newParties := make([]tss.Party, len(committee))
	for i, res := range results {
		if res.Outcome != events.OutcomeSuccess {
			return nil, fmt.Errorf("regroup party %d: %s %v", i, res.Outcome, res.Err)
		}
		r.newData = append(r.newData, res.Value)
		newParties[i] = tss.Party{Peer: committee[i], Key: tss.PartyKey(committee[i], session)}
	}
	if r.new, err = tss.PublishKey(r.newData[0], newParties, 2); err != nil {
		return nil, err
	}
	r.new.Address = r.old.Address
	return r, nil
}

type erasureReport struct {
	key events.Hash
	err error
}

// erasureNode is the test node (peer 0), starting on the old key, and
// its share store.
type erasureNode struct {
	*Node
	dir     string
	store   *tss.ShareStore
	reports []erasureReport
}

// newErasureNode makes the node's share store in a new directory; open
// opens the node.
func newErasureNode(t *testing.T, r *regroupKeys) *erasureNode {
	t.Helper()
	dir := t.TempDir()
	store, err := tss.OpenShareStore(filepath.Join(dir, "shares"), []byte("erasure"), tss.ShareStoreOptions{Peer: r.peers[0], InsecureTestKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	return &erasureNode{dir: dir, store: store}
}

// open opens the node, with its share store (and so erasure) if withTSS.
func (e *erasureNode) open(t *testing.T, r *regroupKeys, withTSS bool) {
	t.Helper()
	params := events.DefaultParams(5, 2)
	params.Network = "erasuretest"
	cfg := Config{Params: params, Identity: r.ids[0], NoSync: true, GenesisKey: r.old}
	if withTSS {
		cfg.TSS = &TSS{Shares: e.store, Erased: func(key events.Hash, err error) { e.reports = append(e.reports, erasureReport{key, err}) }}
	}
	n, err := Open(e.dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.Node = n
	t.Cleanup(func() { n.Close() })
}

// held lists the key ids whose shares the store holds.
func (e *erasureNode) held(t *testing.T) []events.Hash {
	t.Helper()
	list, err := e.store.List()
	if err != nil {
		t.Fatal(err)
	}
	var ids []events.Hash
	for _, l := range list {
		ids = append(ids, l.KeyID)
	}
	return ids
}

func (e *erasureNode) save(t *testing.T, key *events.KeyPublished, data *keygen.LocalPartySaveData) {
	t.Helper()
	if err := e.store.Save(key.KeyID, data); err != nil {
		t.Fatal(err)
	}
}

// current is the node's current key id.
func (e *erasureNode) current() events.Hash {
	var id events.Hash
	e.View(func(s *projections.State) {
		if key, ok := s.Keys.Current(); ok {
			id = key.KeyID
		}
	})
	return id
}

// makeCurrent records key as published here, which makes it current
// (Keys.Apply adopts a published key).
func (e *erasureNode) makeCurrent(t *testing.T, key *events.KeyPublished) {
	t.Helper()
	if err := e.Record(key); err != nil {
		t.Fatal(err)
	}
	if e.current() != key.KeyID {
		t.Fatalf("key %s did not become current on being recorded: make it current the way projections now ask", key.KeyID.String()[:12])
	}
}

func sameKeys(got []events.Hash, want ...*events.KeyPublished) bool {
	var ids []events.Hash
	for _, k := range want {
		ids = append(ids, k.KeyID)
	}
	cmp := func(a, b events.Hash) int { return slices.Compare(a[:], b[:]) }
	return slices.Equal(slices.SortedFunc(slices.Values(got), cmp), slices.SortedFunc(slices.Values(ids), cmp))
}

// TestRegroupErasesOldShare: after a real regroup the node holds both
// shares as long as the old key is current (ticks and all); once the new
// key is current, and the node's new share is the one it publishes, the
// old share is overwritten and removed and its cached data forgotten.
func TestRegroupErasesOldShare(t *testing.T) {
	r := realRegroup(t)
	e := newErasureNode(t, r)
	e.save(t, r.old, &r.oldData[0])
	e.open(t, r, true) // loads its share of the current key, as a member
	e.mu.Lock()
	_, cached := e.keys[r.old.KeyID]
	e.mu.Unlock()
	if !cached {
		t.Fatal("the node did not load its share of the current key")
	}
	// The regroup's session ends here: the new share is kept, as
	// publishKey does, before the key is current.
	e.save(t, r.new, r.newData[0])
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := e.Tick(t0.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		if e.current() != r.old.KeyID || !sameKeys(e.held(t), r.old, r.new) {
			t.Fatalf("before the new key is current the node holds %v, want both shares", e.held(t))
		}
	}
	e.makeCurrent(t, r.new)
	if got := e.held(t); !sameKeys(got, r.new) {
		t.Fatalf("after the regroup the node holds %v, want only the new key's share", got)
	}
	e.mu.Lock()
	_, cached = e.keys[r.old.KeyID]
	e.mu.Unlock()
	if cached {
		t.Fatal("the old key's data is still cached")
	}
	if len(e.reports) != 1 || e.reports[0].key != r.old.KeyID || e.reports[0].err != nil {
		t.Fatalf("reports %+v, want the old key erased", e.reports)
	}
	if _, err := e.store.Load(r.new.KeyID); err != nil {
		t.Fatalf("the new share: %v", err)
	}
	if err := e.Tick(t0.Add(time.Minute)); err != nil || len(e.reports) != 1 {
		t.Fatalf("a later tick: %v, reports %+v", err, e.reports)
	}
}

// TestStartErasesSupersededShare: a node that stopped after the new key
// became current but before it erased the old share erases it when it
// opens again.
func TestStartErasesSupersededShare(t *testing.T) {
	r := realRegroup(t)
	e := newErasureNode(t, r)
	e.open(t, r, false) // no share store: nothing is erased
	e.makeCurrent(t, r.new)
	e.save(t, r.old, &r.oldData[0])
	e.save(t, r.new, r.newData[0])
	e.Close()
	e.open(t, r, true)
	if got := e.held(t); !sameKeys(got, r.new) {
		t.Fatalf("after a restart the node holds %v, want only the new key's share", got)
	}
	if len(e.reports) != 1 || e.reports[0].key != r.old.KeyID || e.reports[0].err != nil {
		t.Fatalf("reports %+v, want the old key erased", e.reports)
	}
}

// TestErasureKeepsShares: no share is erased when the new key is another
// group's (a keygen replaced the key: the old vault may still hold
// funds), when the node's share of the new key is not the one the key
// publishes for it, or when it holds none; the last two are reported.
func TestErasureKeepsShares(t *testing.T) {
	r := realRegroup(t)
	for _, tc := range []struct {
		name   string
		next   *events.KeyPublished
		data   *keygen.LocalPartySaveData // saved as the node's share of next; nil: none
		report string
	}{
		{"keygen replaced the key", r.other, &r.otherData[0], ""},
		{"the new share is another member's", r.new, r.newData[1], "not the one it publishes"},
		{"no share of the new key", r.new, nil, "holds no share"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newErasureNode(t, r)
			e.save(t, r.old, &r.oldData[0])
			e.open(t, r, true)
			if tc.data != nil {
				e.save(t, tc.next, tc.data)
			}
			e.makeCurrent(t, tc.next)
			want := []*events.KeyPublished{r.old}
			if tc.data != nil {
				want = append(want, tc.next)
			}
			if got := e.held(t); !sameKeys(got, want...) {
				t.Fatalf("the node holds %v, want the old share kept", got)
			}
			switch {
			case tc.report == "" && len(e.reports) != 0:
				t.Fatalf("reports %+v, want none", e.reports)
			case tc.report != "" && (len(e.reports) != 1 || e.reports[0].key != r.old.KeyID || e.reports[0].err == nil ||
				!strings.Contains(e.reports[0].err.Error(), tc.report)):
				t.Fatalf("reports %+v, want the old key kept because %q", e.reports, tc.report)
			}
		})
	}
}

// TestShareAfterKeyIsCurrent: a member may adopt the new key from t+1
// announcements before its own session ends; the old share is kept
// while it holds no new one, and erased once its session keeps the new
// share (as publishKey does), at the next input.
func TestShareAfterKeyIsCurrent(t *testing.T) {
	r := realRegroup(t)
	e := newErasureNode(t, r)
	e.save(t, r.old, &r.oldData[0])
	e.open(t, r, true)
	e.makeCurrent(t, r.new)
	if got := e.held(t); !sameKeys(got, r.old) || len(e.reports) != 1 || e.reports[0].err == nil {
		t.Fatalf("with no share of the new key the node holds %v, reports %+v: want the old share kept", got, e.reports)
	}
	e.mu.Lock()
	err := e.keepShare(r.new, r.newData[0])
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Tick(time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	if got := e.held(t); !sameKeys(got, r.new) {
		t.Fatalf("after its session kept the new share the node holds %v, want only that", got)
	}
	if len(e.reports) != 2 || e.reports[1].key != r.old.KeyID || e.reports[1].err != nil {
		t.Fatalf("reports %+v, want the old key erased last", e.reports)
	}
}
