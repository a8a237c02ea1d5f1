package node_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func params() events.Params {
	p := events.DefaultParams(4, 2)
	p.Network = "nodetest"
	return p
}

// stakedChain answers every stake check at once: the tx exists, is
// confirmed, old enough, bound to its peer and holds min_stake. The answer
// comes inside CheckStake, which the node calls after its lock.
type stakedChain struct{ asked int }

func (c *stakedChain) CheckStake(peer events.PeerID, tx string, answer func(events.StakeChecked)) {
	c.asked++
	answer(events.StakeChecked{Peer: peer, StakeTx: tx, Found: true, Confirmed: true,
		ConfirmedAt: events.TimeOf(start.Add(-100 * time.Hour)), Amount: params().MinStake, BoundPeer: peer})
}

// network opens count nodes on one synchronous bus, each with its stake
// on a chain that answers at once.
func network(t *testing.T, count int) ([]*node.Node, []string, *net.Bus) {
	t.Helper()
	bus := net.NewBus()
	nodes := make([]*node.Node, count)
	dirs := make([]string, count)
	for i := range nodes {
		dirs[i] = filepath.Join(t.TempDir(), fmt.Sprintf("node-%d", i))
		n, err := node.Open(dirs[i], node.Config{Params: params(), Publish: bus.Publish, Chain: &stakedChain{}, StakeTx: fmt.Sprintf("stake-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		bus.Join(n.ID(), n)
		nodes[i] = n
	}
	return nodes, dirs, bus
}

func tickAll(t *testing.T, nodes []*node.Node, from, seconds int) {
	t.Helper()
	for s := from; s < from+seconds; s++ {
		for _, n := range nodes {
			if err := n.Tick(start.Add(time.Duration(s) * time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestNodesPingEachOther(t *testing.T) {
	nodes, dirs, _ := network(t, 4)
	tickAll(t, nodes, 0, 10) // pings at 0, 3, 6 and 9 s
	for i, n := range nodes {
		// At 0 s node i gets the pings of the i nodes that tick before it
		// while it has no clock yet: a stranger's ping that cannot count
		// cannot lead to a stake check, so it is dropped, not logged.
		st := n.Status()
		if st.PeersSeen != 3 || st.PingsSent != 4 || st.Dropped != uint64(i) || st.DroppedStrangers != uint64(i) {
			t.Errorf("node %d: %d peers seen, %d pings sent, %d dropped; want 3, 4, %d", i, st.PeersSeen, st.PingsSent, st.Dropped, i)
		}
		counts := map[events.Kind]uint64{}
		for _, k := range st.PerKindCounts {
			counts[k.Kind] = k.Count
		}
		if counts[events.KindGenesis] != 1 || counts[events.KindTick] != 10 ||
			counts[events.KindMessageSent] != 4 || counts[events.KindPingReceived] != uint64(12-i) {
			t.Errorf("node %d logged %v", i, st.PerKindCounts)
		}
	}
	// The state each node holds is the state its log replays to.
	for i, n := range nodes {
		want := n.Status().StateHash
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
		store, err := events.Open(filepath.Join(dirs[i], node.LogDir), events.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		res, err := replay.Run(store, projections.NewState(), replay.Until{})
		store.Close()
		if err != nil || res.StateHash != want {
			t.Errorf("node %d: live state %s, replay gives %s (%v)", i, want, res.StateHash, err)
		}
		if _, err := store.Verify(); err == nil {
			t.Error("Verify on a closed store did not fail")
		}
	}
}

func TestReceivedPingsAreSignedEvidence(t *testing.T) {
	nodes, dirs, _ := network(t, 2)
	tickAll(t, nodes, 0, 1)
	nodes[0].Close()
	store, err := events.Open(filepath.Join(dirs[0], node.LogDir), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	found := 0
	err = store.ForEach(0, 0, func(seq uint64, ev events.Event) error {
		if r, ok := ev.(*events.PingReceived); ok {
			found++
			if err := net.Validate(&r.Msg); err != nil {
				return fmt.Errorf("logged ping does not verify: %w", err)
			}
			if r.Msg.From != nodes[1].ID() {
				return fmt.Errorf("ping from %s, want node 1", r.Msg.From.Short())
			}
		}
		return nil
	})
	if err != nil || found != 1 {
		t.Fatalf("found %d verifiable pings: %v", found, err)
	}
}

func TestInvalidMessagesAreDroppedNotLogged(t *testing.T) {
	nodes, _, _ := network(t, 2)
	tickAll(t, nodes, 0, 1)
	before := nodes[0].Status()

	forged := events.Signed{Type: events.TypePing, From: nodes[1].ID(), Body: []byte{0x80}, Sig: make([]byte, 64)}
	nodes[0].Receive(forged)
	nodes[0].Receive(events.Signed{Type: "chatter", From: nodes[1].ID()})

	after := nodes[0].Status()
	if after.Dropped != before.Dropped+2 || after.Events != before.Events {
		t.Fatalf("dropped %d -> %d, events %d -> %d: want 2 drops and nothing logged", before.Dropped, after.Dropped, before.Events, after.Events)
	}
}

func TestRestartContinuesFromTheLog(t *testing.T) {
	nodes, dirs, bus := network(t, 2)
	tickAll(t, nodes, 0, 7) // pings 1, 2, 3 at 0, 3, 6 s
	id := nodes[0].ID()
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	// Other parameters on restart are ignored: the log's genesis rules.
	changed := params()
	changed.Threshold = 1
	reopened, err := node.Open(dirs[0], node.Config{Params: changed, Publish: bus.Publish, Chain: &stakedChain{}, StakeTx: "stake-0"})
	if err != nil {
		t.Fatal(err)
	}
	defer reopened.Close()
	bus.Join(reopened.ID(), reopened)
	if reopened.ID() != id {
		t.Fatal("the node's identity changed across a restart")
	}
	if got := reopened.Status().PingsSent; got != 3 {
		t.Fatalf("after restart the node believes it sent %d pings, want 3", got)
	}
	if err := reopened.Tick(start.Add(9 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := reopened.Status().PingsSent; got != 4 {
		t.Fatalf("ping seq after restart = %d, want 4 (continuing, never reused)", got)
	}
}

func TestOpenRefusesAnotherNodesLog(t *testing.T) {
	nodes, dirs, _ := network(t, 1)
	tickAll(t, nodes, 0, 1)
	nodes[0].Close()
	// The log moves to a directory whose identity key is another node's.
	other := t.TempDir()
	if err := os.MkdirAll(filepath.Join(other, node.LogDir), 0o700); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dirs[0], node.LogDir, events.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, node.LogDir, events.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = node.Open(other, node.Config{Params: params()})
	if err == nil || !strings.Contains(err.Error(), "belongs to node") {
		t.Fatalf("Open of another node's log = %v", err)
	}
}

// TestLogObserve: Config.LogObserve sees the log's commits, from the
// genesis on.
func TestLogObserve(t *testing.T) {
	var mu sync.Mutex
	records := 0
	n, err := node.Open(t.TempDir(), node.Config{Params: params(), LogObserve: func(r int, _ time.Duration) {
		mu.Lock()
		records += r
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Tick(start); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := int(n.Log().Stats().Events); records != want || want < 2 {
		t.Fatalf("observed %d records, the log appended %d", records, want)
	}
}
