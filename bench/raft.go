package bench

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/replay"
)

// RaftOptions size the replication benchmark; a zero field takes its
// default.
type RaftOptions struct {
	// Dir is the scratch directory: the replicas' logs and raft files and
	// the single-node reference's log go under it, and stay there.
	Dir string
	// Count ping-sized events are appended by Appenders goroutines, one
	// event per Append, through the leader, and the same to one node's
	// log for the reference.
	Count, Appenders int
	// Kills leaders are killed for the failover figure, while LoadPerSec
	// background appends a second go on.
	Kills, LoadPerSec int
}

// Defaults of RaftOptions.
const (
	DefaultRaftCount      = 100_000
	DefaultRaftAppenders  = 64
	DefaultRaftKills      = 20
	DefaultRaftLoadPerSec = 200
)

// RaftResult is the replication benchmark: appends committed by three
// replicas on loopback TCP (every write fsynced) beside one node's log
// alone, and the time a killed leader's successor takes to commit its
// first append beside the election timeout and the goal.
type RaftResult struct {
	Replicas     int     `json:"replicas"`
	Events       int     `json:"events"`
	Appenders    int     `json:"appenders"`
	EventsPerSec float64 `json:"events_per_sec"`
	P50CommitMs  float64 `json:"p50_commit_ms"` // latency of one Append through the leader
	P99CommitMs  float64 `json:"p99_commit_ms"`
	// EventsPerApply is how many events the leader's log took per
	// transaction (one fsync) as raft's state machine.
	EventsPerApply float64 `json:"events_per_apply"`
	// The reference: the same events and appenders on one node's log,
	// without raft (bench log's figure).
	ReferenceEventsPerSec float64 `json:"reference_events_per_sec"`
	ReferenceP50CommitMs  float64 `json:"reference_p50_commit_ms"`
	ReferenceP99CommitMs  float64 `json:"reference_p99_commit_ms"`
	GoalEventsPerSec      float64 `json:"goal_events_per_sec"`

	// Failover: from a leader's kill to its successor's first append
	// committed (after the successor's barrier).
	Kills              int     `json:"kills"`
	FailoverMinMs      float64 `json:"failover_min_ms"`
	FailoverP50Ms      float64 `json:"failover_p50_ms"`
	FailoverMaxMs      float64 `json:"failover_max_ms"`
	ElectionTimeoutMs  float64 `json:"election_timeout_ms"`
	HeartbeatTimeoutMs float64 `json:"heartbeat_timeout_ms"`
	GoalFailoverMs     float64 `json:"goal_failover_ms"`
	// Elections counts the leaders that committed a first append, the
	// kills' and any other (the first leader's, one a loaded CPU caused).
	Elections int `json:"elections"`
	// LoadAppends were committed in the background during the kills.
	// Refused are appends a leader refused because it was killed or
	// deposed meanwhile; the next leader may have committed them anyway
	// (the others were sent to it again).
	LoadAppends int `json:"load_appends"`
	Refused     int `json:"refused"`

	// Committed is every append committed (each checked to be in the log
	// at the seq it returned); LogEvents is each replica's log length at
	// the end, identical on all of them. The difference is refused
	// appends that the next leader committed anyway.
	Committed int    `json:"committed"`
	LogEvents uint64 `json:"log_events"`
	// LogDirs are the replicas' event logs under Dir, closed.
	LogDirs []string `json:"-"`
}

// Raft measures, on three replicas on loopback in this process, first the
// throughput and latency of opts.Count concurrent appends, then opts.Kills
// failovers: each kills the leader abruptly (no leadership transfer) and
// times its successor's first committed append, then restarts the killed
// replica and waits for its log to catch up. At the end the replicas' logs
// must be identical and hold every committed append.
func Raft(opts RaftOptions) (RaftResult, error) {
	setRaftDefaults(&opts)
	res := RaftResult{
		Replicas: 3, Events: opts.Count, Appenders: opts.Appenders, Kills: opts.Kills,
		GoalEventsPerSec: 20_000, GoalFailoverMs: 2000,
		ElectionTimeoutMs:  ms(ha.DefaultElectionTimeout),
		HeartbeatTimeoutMs: ms(ha.DefaultHeartbeatTimeout),
	}
	evs := eventstest.Pings(opts.Count, 20)
	ref, err := logAppends(filepath.Join(opts.Dir, "single"), evs, opts.Appenders)
	if err != nil {
		return res, fmt.Errorf("single-node reference: %w", err)
	}
	res.ReferenceEventsPerSec, res.ReferenceP50CommitMs, res.ReferenceP99CommitMs = ref.EventsPerSec, ref.P50AppendMs, ref.P99AppendMs

	c, err := newRaftCluster(filepath.Join(opts.Dir, "replicas"), 3)
	if err != nil {
		return res, err
	}
	res.LogDirs = c.logDirs()
	defer c.close()
	if _, err := c.waitLeader(-1, time.Time{}); err != nil {
		return res, err
	}

	elapsed, latencies, err := appendAll(len(evs), opts.Appenders, func(i int) error {
		_, err := c.append(evs[i])
		return err
	})
	if err != nil {
		return res, fmt.Errorf("replicated appends: %w", err)
	}
	res.EventsPerSec = float64(len(evs)) / elapsed.Seconds()
	res.P50CommitMs = ms(percentile(latencies, 0.50))
	res.P99CommitMs = ms(percentile(latencies, 0.99))
	if lead := c.leaderStore(); lead != nil {
		stats := lead.Stats()
		res.EventsPerApply = float64(stats.Events) / float64(max(1, stats.Commits))
	}

	stopLoad := c.startLoad(opts.LoadPerSec)
	failovers, err := c.failovers(opts.Kills)
	loaded, loadErr := stopLoad()
	if err = errors.Join(err, loadErr); err != nil {
		return res, err
	}
	res.LoadAppends = loaded
	slices.Sort(failovers)
	res.FailoverMinMs = ms(failovers[0])
	res.FailoverP50Ms = ms(percentile(failovers, 0.50))
	res.FailoverMaxMs = ms(failovers[len(failovers)-1])

	if res.LogEvents, err = c.check(); err != nil {
		return res, err
	}
	c.mu.Lock() // the duty runner stopped in check: nothing more is appended
	res.Elections, res.Refused, res.Committed = c.elections, c.refused, len(c.committed)
	c.mu.Unlock()
	return res, c.close()
}

func setRaftDefaults(opts *RaftOptions) {
	if opts.Count <= 0 {
		opts.Count = DefaultRaftCount
	}
	if opts.Appenders <= 0 {
		opts.Appenders = DefaultRaftAppenders
	}
	if opts.Kills <= 0 {
		opts.Kills = DefaultRaftKills
	}
	if opts.LoadPerSec <= 0 {
		opts.LoadPerSec = DefaultRaftLoadPerSec
	}
}

// raftCluster is three replicas of one node in this process. A duty
// runner does what a node does when a replica gains the lead: barrier,
// then a first append; once that is committed, appends go to it.
type raftCluster struct {
	dir      string
	addrs    []string
	leads    chan leadChange
	quit     chan struct{} // closed to stop the duty runner and the forwarders
	quitOnce sync.Once
	runs     sync.WaitGroup

	mu        sync.Mutex
	stores    []*events.Store
	replicas  []*ha.Replica
	stops     []chan struct{} // each live replica's forwarder's
	leader    int             // the replica whose first append was the last committed; -1 before
	elected   time.Time       // when it was
	changed   chan struct{}   // closed when leader changes
	elections int
	refused   int
	dutyErr   error // why the last would-be leader's first append failed
	committed []committedAppend
	closed    bool
}

type leadChange struct {
	i  int
	r  *ha.Replica
	on bool
}

type committedAppend struct {
	seq uint64
	ev  events.Event
}

// leaderWait bounds every wait for a leader or a catch-up: far beyond a
// failover's, it only stops a run that went wrong.
const leaderWait = 30 * time.Second

func newRaftCluster(dir string, n int) (*raftCluster, error) {
	addrs, err := loopbackAddrs(n)
	if err != nil {
		return nil, err
	}
	c := &raftCluster{
		dir: dir, addrs: addrs, leads: make(chan leadChange), quit: make(chan struct{}),
		stores: make([]*events.Store, n), replicas: make([]*ha.Replica, n), stops: make([]chan struct{}, n),
		leader: -1, changed: make(chan struct{}),
	}
	c.runs.Add(1)
	go c.runDuties()
	for i := range n {
		if err := c.start(i); err != nil {
			c.close()
			return nil, err
		}
	}
	return c, nil
}

// loopbackAddrs reserves n loopback ports (released for the replicas to
// bind).
func loopbackAddrs(n int) ([]string, error) {
	var addrs []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

func (c *raftCluster) logDirs() []string {
	var dirs []string
	for i := range c.addrs {
		dirs = append(dirs, filepath.Join(c.dir, fmt.Sprint("r", i), "log"))
	}
	return dirs
}

// start opens replica i's log and raft member, from what its directories
// hold (nothing on the first start).
func (c *raftCluster) start(i int) error {
	store, err := events.Open(c.logDirs()[i], events.Options{})
	if err != nil {
		return err
	}
	cfg := ha.Config{ID: fmt.Sprint("r", i), Bind: c.addrs[i], Dir: filepath.Join(c.dir, fmt.Sprint("r", i), "raft"), Store: store}
	for j, a := range c.addrs {
		if j != i {
			cfg.Others = append(cfg.Others, ha.Member{ID: fmt.Sprint("r", j), Addr: a})
		}
	}
	r, err := ha.Open(cfg)
	if err != nil {
		store.Close()
		return fmt.Errorf("replica r%d: %w", i, err)
	}
	stop := make(chan struct{})
	c.mu.Lock()
	c.stores[i], c.replicas[i], c.stops[i] = store, r, stop
	c.mu.Unlock()
	c.runs.Add(1)
	go func() {
		defer c.runs.Done()
		for {
			select {
			case on := <-r.Leadership():
				select {
				case c.leads <- leadChange{i: i, r: r, on: on}:
				case <-stop:
					return
				case <-c.quit:
					return
				}
			case <-stop:
				return
			case <-c.quit:
				return
			}
		}
	}()
	return nil
}

// kill stops replica i abruptly: its raft member, then its log.
func (c *raftCluster) kill(i int) error {
	c.mu.Lock()
	r, store, stop := c.replicas[i], c.stores[i], c.stops[i]
	c.replicas[i], c.stores[i], c.stops[i] = nil, nil, nil
	c.mu.Unlock()
	if r == nil {
		return nil
	}
	close(stop)
	return errors.Join(r.Close(), store.Close())
}

// runDuties acts on every gain of the lead by a live replica as a node
// does before its first duty: a barrier, so its log holds everything
// committed before, then one append.
func (c *raftCluster) runDuties() {
	defer c.runs.Done()
	for tick := 0; ; {
		var lc leadChange
		select {
		case lc = <-c.leads:
		case <-c.quit:
			return
		}
		c.mu.Lock()
		live := c.replicas[lc.i] == lc.r
		c.mu.Unlock()
		if !lc.on || !live {
			continue
		}
		err := lc.r.Barrier(2 * time.Second)
		var seq uint64
		proposed := false
		// ticks long after the throughput figure's (they end within days)
		ev := &events.Tick{Time: eventstest.Epoch.Add(1000*24*time.Hour + time.Duration(tick)*time.Second)}
		if err == nil {
			seq, err = lc.r.Append(ev)
			proposed = true
		}
		at := time.Now()
		c.mu.Lock()
		if err != nil {
			if proposed {
				c.refused++
				tick++ // it may be committed yet: the next is another
			}
			// deposed meanwhile: the next leader will say so
			c.dutyErr = fmt.Errorf("r%d's first append as leader: %w", lc.i, err)
		} else {
			tick++
			c.committed = append(c.committed, committedAppend{seq, ev})
			c.leader, c.elected, c.elections = lc.i, at, c.elections+1
			close(c.changed)
			c.changed = make(chan struct{})
		}
		c.mu.Unlock()
	}
}

// waitLeader waits for a leader other than replica not to commit its first
// append after since, and returns when it did.
func (c *raftCluster) waitLeader(not int, since time.Time) (time.Time, error) {
	deadline := time.After(leaderWait)
	for {
		c.mu.Lock()
		leader, at, changed, dutyErr := c.leader, c.elected, c.changed, c.dutyErr
		c.mu.Unlock()
		if leader >= 0 && leader != not && at.After(since) {
			return at, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return time.Time{}, fmt.Errorf("no leader committed an append within %v (last failure: %v)", leaderWait, dutyErr)
		}
	}
}

// append appends ev through the leader, and through the next one if that
// one is deposed or killed meanwhile.
func (c *raftCluster) append(ev events.Event) (uint64, error) {
	deadline := time.After(leaderWait)
	for {
		c.mu.Lock()
		leader, changed := c.replicas[max(0, c.leader)], c.changed
		if c.leader < 0 {
			leader = nil
		}
		c.mu.Unlock()
		if leader != nil {
			seq, err := leader.Append(ev)
			if err == nil {
				c.mu.Lock()
				c.committed = append(c.committed, committedAppend{seq, ev})
				c.mu.Unlock()
				return seq, nil
			}
			if !errors.Is(err, events.ErrNotLeader) {
				return 0, err
			}
			c.mu.Lock()
			c.refused++
			c.mu.Unlock()
		}
		select {
		case <-changed:
		case <-deadline:
			return 0, fmt.Errorf("append: no leader within %v", leaderWait)
		}
	}
}

func (c *raftCluster) leaderStore() *events.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.leader < 0 {
		return nil
	}
	return c.stores[c.leader]
}

// startLoad appends perSec pings a second from a few goroutines until the
// returned stop, which says how many were committed.
func (c *raftCluster) startLoad(perSec int) (stop func() (int, error)) {
	const workers = 4
	quit := make(chan struct{})
	counts := make([]int, workers)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * workers / time.Duration(perSec))
			defer tick.Stop()
			for n := uint64(1); ; n++ {
				select {
				case <-tick.C:
				case <-quit:
					return
				}
				// peers 20 and up: none of the throughput figure's pings
				if _, err := c.append(eventstest.PingReceived(20+w, n)); err != nil {
					errs[w] = fmt.Errorf("background append: %w", err)
					return
				}
				counts[w]++
			}
		}()
	}
	return func() (int, error) {
		close(quit)
		wg.Wait()
		total := 0
		for _, n := range counts {
			total += n
		}
		return total, errors.Join(errs...)
	}
}

// failovers kills the leader kills times, each time once all replicas are
// up and caught up, and returns each failover's time.
func (c *raftCluster) failovers(kills int) ([]time.Duration, error) {
	var out []time.Duration
	for range kills {
		old, err := c.liveLeader()
		if err != nil {
			return out, err
		}
		killed := time.Now()
		if err := c.kill(old); err != nil {
			return out, fmt.Errorf("kill r%d: %w", old, err)
		}
		at, err := c.waitLeader(old, killed)
		if err != nil {
			return out, fmt.Errorf("after killing r%d: %w", old, err)
		}
		out = append(out, at.Sub(killed))
		if err := c.start(old); err != nil {
			return out, fmt.Errorf("restart: %w", err)
		}
		if err := c.catchUp(old); err != nil {
			return out, err
		}
	}
	return out, nil
}

// liveLeader returns the replica whose first append was the last
// committed, once it leads still (a leader deposed meanwhile is not
// killed: the next is).
func (c *raftCluster) liveLeader() (int, error) {
	deadline := time.After(leaderWait)
	for {
		c.mu.Lock()
		i, changed := c.leader, c.changed
		leads := i >= 0 && c.replicas[i] != nil && c.replicas[i].IsLeader()
		c.mu.Unlock()
		if leads {
			return i, nil
		}
		select {
		case <-changed:
		case <-deadline:
			return -1, fmt.Errorf("no leader for %v", leaderWait)
		}
	}
}

// catchUp waits for replica i's log to reach the leader's, as it is when
// the wait begins.
func (c *raftCluster) catchUp(i int) error {
	lead := c.leaderStore()
	c.mu.Lock()
	store := c.stores[i]
	c.mu.Unlock()
	if lead == nil || store == nil {
		return errors.New("catch up: no leader")
	}
	target := lead.LastSeq()
	deadline := time.After(leaderWait)
	for {
		advanced := store.Advanced()
		if store.LastSeq() >= target {
			return nil
		}
		select {
		case <-advanced:
		case <-deadline:
			return fmt.Errorf("r%d's log stays at seq %d, behind the leader's %d", i, store.LastSeq(), target)
		}
	}
}

// check stops the duty runner (no more appends), waits for every
// replica's log to reach the leader's, then checks the logs are identical
// and hold every committed append at the seq it returned. It returns the
// logs' length.
func (c *raftCluster) check() (uint64, error) {
	c.stopRuns()
	lead := c.leaderStore()
	if lead == nil {
		return 0, errors.New("check: no leader")
	}
	last := lead.LastSeq()
	for i := range c.stores {
		if err := c.catchUp(i); err != nil {
			return 0, err
		}
	}
	c.mu.Lock()
	stores := slices.Clone(c.stores)
	committed := slices.Clone(c.committed)
	c.mu.Unlock()
	for i, s := range stores {
		if s.LastSeq() != last {
			return 0, fmt.Errorf("r%d's log has %d events, the leader's %d", i, s.LastSeq(), last)
		}
		if i == 0 {
			continue
		}
		diff, err := replay.Diff(stores[0], s)
		if err != nil {
			return 0, err
		}
		if diff.First != nil {
			return 0, fmt.Errorf("r0's and r%d's logs differ: %v", i, diff.First)
		}
	}
	return last, checkCommitted(lead, committed)
}

// checkCommitted checks each committed append is in the log, at the seq
// Append returned for it, once.
func checkCommitted(store *events.Store, committed []committedAppend) error {
	last := store.LastSeq()
	at := make([]events.Event, last+1)
	for _, a := range committed {
		if a.seq == 0 || a.seq > last {
			return fmt.Errorf("an append committed at seq %d, beyond the log's end %d", a.seq, last)
		}
		if at[a.seq] != nil {
			return fmt.Errorf("two appends committed at seq %d", a.seq)
		}
		at[a.seq] = a.ev
	}
	var body []byte
	return store.ScanChunked(1, last, func(rec events.Record) error {
		ev := at[rec.Seq]
		if ev == nil {
			return nil
		}
		var err error
		if body, err = events.EncodeEvent(body[:0], ev); err != nil {
			return err
		}
		if rec.Kind != ev.Kind() || !bytes.Equal(rec.Body, body) {
			return fmt.Errorf("seq %d holds a %s event, not the %s committed there", rec.Seq, rec.Kind, ev.Kind())
		}
		return nil
	})
}

// close stops the duty runner and every live replica.
func (c *raftCluster) close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stopRuns()
	var errs []error
	for i := range c.replicas {
		errs = append(errs, c.kill(i))
	}
	return errors.Join(errs...)
}

func (c *raftCluster) stopRuns() {
	c.quitOnce.Do(func() { close(c.quit) })
	c.runs.Wait()
}
