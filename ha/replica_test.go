package ha

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/replay"
)

// freeAddrs reserves n loopback ports.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

type testCluster struct {
	t        *testing.T
	dir      string
	addrs    []string
	stores   []*events.Store
	replicas []*Replica
	extra    func(*Config)
}

func newTestCluster(t *testing.T, n int, extra func(*Config)) *testCluster {
	c := &testCluster{t: t, dir: t.TempDir(), addrs: freeAddrs(t, n), stores: make([]*events.Store, n), replicas: make([]*Replica, n), extra: extra}
	for i := range n {
		c.start(i)
	}
	t.Cleanup(func() {
		for i := range c.replicas {
			c.stop(i)
		}
	})
	return c
}

func (c *testCluster) start(i int) {
	c.t.Helper()
	store, err := events.Open(filepath.Join(c.dir, fmt.Sprint(i), "log"), events.Options{NoSync: true})
	if err != nil {
		c.t.Fatal(err)
	}
	cfg := Config{ID: fmt.Sprint("r", i), Bind: c.addrs[i], Dir: filepath.Join(c.dir, fmt.Sprint(i), "raft"), Store: store, Files: c.files(i)}
	for j, a := range c.addrs {
		if j != i {
			cfg.Others = append(cfg.Others, Member{ID: fmt.Sprint("r", j), Addr: a})
		}
	}
	if c.extra != nil {
		c.extra(&cfg)
	}
	r, err := Open(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.stores[i], c.replicas[i] = store, r
}

func (c *testCluster) files(i int) DirFiles {
	return DirFiles{Dir: filepath.Join(c.dir, fmt.Sprint(i), "shares"), Suffix: ".share"}
}

func (c *testCluster) stop(i int) {
	if c.replicas[i] != nil {
		c.replicas[i].Close()
		c.stores[i].Close()
		c.replicas[i], c.stores[i] = nil, nil
	}
}

// leader waits (bounded) for one live replica to lead.
func (c *testCluster) leader() int {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for i, r := range c.replicas {
			if r != nil && r.IsLeader() {
				return i
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatal("no leader within 10 s")
	return -1
}

// appendTicks appends n ticks through the leader, retrying across a
// change of leader, and returns the ticks' times committed.
func (c *testCluster) appendTicks(from, n int) {
	c.t.Helper()
	for k := from; k < from+n; {
		i := c.leader()
		_, err := c.replicas[i].Append(&events.Tick{Time: events.Time(k)})
		if errors.Is(err, events.ErrNotLeader) {
			continue
		}
		if err != nil {
			c.t.Fatal(err)
		}
		k++
	}
}

// waitSame waits for every live replica's log to reach seq last, then
// checks they are identical.
func (c *testCluster) waitSame(last uint64) {
	c.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, s := range c.stores {
		for s != nil && s.LastSeq() < last {
			if time.Now().After(deadline) {
				c.t.Fatalf("a replica's log stays at %d, want %d", s.LastSeq(), last)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	var first *events.Store
	for _, s := range c.stores {
		if s == nil {
			continue
		}
		if s.LastSeq() != last {
			c.t.Fatalf("a replica's log has %d events, want %d", s.LastSeq(), last)
		}
		if first == nil {
			first = s
			continue
		}
		res, err := replay.Diff(first, s)
		if err != nil {
			c.t.Fatal(err)
		}
		if res.First != nil {
			c.t.Fatalf("replicas differ: %v", res.First)
		}
	}
}

func TestReplicatedAppendAndFailover(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.appendTicks(0, 50)
	c.waitSame(50)
	old := c.leader()
	c.stop(old) // a kill: no leadership transfer
	c.appendTicks(50, 50)
	c.waitSame(100)
	c.start(old) // back: catches up from the others, appends nothing twice
	c.appendTicks(100, 10)
	c.waitSame(110)
	// the ticks are in order, once each, on every replica
	for _, s := range c.stores {
		want := events.Time(0)
		if err := s.ForEach(1, 0, func(seq uint64, ev events.Event) error {
			if tick := ev.(*events.Tick); tick.Time != want {
				return fmt.Errorf("seq %d: tick %d, want %d", seq, tick.Time, want)
			}
			want++
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRestoredReplicaCatchesUpFromSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold, cfg.TrailingLogs = 16, 4 })
	c.appendTicks(0, 40)
	c.waitSame(40)
	lost := (c.leader() + 1) % 3
	c.stop(lost)
	c.appendTicks(40, 200)
	for i, r := range c.replicas {
		if r != nil && i != lost {
			if err := r.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.appendTicks(240, 10)
	// restored from nothing: its log and raft files are gone
	if err := removeAll(filepath.Join(c.dir, fmt.Sprint(lost))); err != nil {
		t.Fatal(err)
	}
	c.start(lost)
	c.appendTicks(250, 10)
	c.waitSame(260)
}

func TestIsolatedLeaderCannotAppendAndStepsDown(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.appendTicks(0, 5)
	old := c.leader()
	c.replicas[old].Isolate(true)
	began := time.Now()
	_, err := c.replicas[old].Append(&events.Tick{Time: 1000})
	if !errors.Is(err, events.ErrNotLeader) {
		t.Fatalf("an isolated leader's append: %v, want ErrNotLeader", err)
	}
	for c.replicas[old].IsLeader() {
		if time.Since(began) > 5*time.Second {
			t.Fatal("the isolated leader did not step down within 5 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// the others elect a leader and go on; the tick the isolated one
	// proposed is in nobody's log
	var next int
	deadline := time.Now().Add(10 * time.Second)
	for next = c.leader(); next == old; next = c.leader() {
		if time.Now().After(deadline) {
			t.Fatal("no new leader")
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.appendTicks(5, 5)
	c.replicas[old].Isolate(false)
	c.waitSame(10)
	if err := c.stores[old].ForEach(1, 0, func(seq uint64, ev events.Event) error {
		if ev.(*events.Tick).Time == 1000 {
			return fmt.Errorf("seq %d: the isolated leader's tick was committed", seq)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func removeAll(dir string) error { return os.RemoveAll(dir) }

// A share written at the leader reaches every replica: the live ones
// through raft, one restored from nothing through the snapshot.
func TestSharesReachEveryReplica(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotThreshold, cfg.TrailingLogs = 16, 4 })
	c.appendTicks(0, 5)
	share := []byte("sealed share bytes")
	if err := c.replicas[c.leader()].PutFile("abc.share", share); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"../x.share", "x.txt", ".share", "a/b.share"} {
		if err := c.replicas[c.leader()].PutFile(bad, share); err == nil {
			t.Fatalf("file %q replicated", bad)
		}
	}
	c.appendTicks(5, 5)
	c.waitSame(10)
	for i := range c.replicas {
		if got, err := c.files(i).Get("abc.share"); err != nil || string(got) != string(share) {
			t.Fatalf("replica %d: share %q, %v", i, got, err)
		}
	}
	lost := (c.leader() + 1) % 3
	c.stop(lost)
	c.appendTicks(10, 100)
	for i, r := range c.replicas {
		if r != nil && i != lost {
			if err := r.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.appendTicks(110, 10)
	if err := removeAll(filepath.Join(c.dir, fmt.Sprint(lost))); err != nil {
		t.Fatal(err)
	}
	c.start(lost)
	c.appendTicks(120, 5)
	c.waitSame(125)
	if got, err := c.files(lost).Get("abc.share"); err != nil || string(got) != string(share) {
		t.Fatalf("restored replica: share %q, %v", got, err)
	}
}

// A replica killed while appends are queued in raft (its buffered apply
// channel, its FSM's queue) answers every one of them: raft drops such
// entries at shutdown without answering their futures.
func TestAppendsReturnWhenTheLeaderIsClosed(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	c.appendTicks(0, 1)
	leader := c.replicas[c.leader()]
	const appenders = 64
	started := make(chan struct{}, appenders)
	returned := make(chan error, appenders)
	for w := range appenders {
		go func() {
			for k := 0; ; k++ {
				if k == 1 {
					started <- struct{}{}
				}
				if _, err := leader.Append(&events.Tick{Time: events.Time(1000*w + k)}); err != nil {
					returned <- err
					return
				}
			}
		}()
	}
	for range appenders {
		<-started
	}
	c.stop(c.leader())
	timeout := time.After(10 * time.Second)
	for range appenders {
		select {
		case err := <-returned:
			if !errors.Is(err, events.ErrNotLeader) {
				t.Fatalf("an append to a closed leader: %v, want ErrNotLeader", err)
			}
		case <-timeout:
			t.Fatal("appends to a closed leader hang")
		}
	}
}
