package ha

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/metanode/metanode/events"
)

// Timeouts measured to fail over within 2 s on loopback (DESIGN.md):
// raft's defaults (1 s, 1 s, 500 ms) gave up to 2.9 s.
const (
	DefaultHeartbeatTimeout   = 500 * time.Millisecond
	DefaultElectionTimeout    = 500 * time.Millisecond
	DefaultLeaderLeaseTimeout = 250 * time.Millisecond
	// DefaultSnapshotThreshold entries since the last snapshot make raft
	// take one; DefaultTrailingLogs of them stay for followers a little
	// behind (further behind, they install the snapshot).
	DefaultSnapshotThreshold = 4096
	DefaultTrailingLogs      = 1024
	// applyTimeout bounds the wait to hand an entry to raft.
	applyTimeout = 5 * time.Second
	// logCacheSize recent entries are kept in memory: the leader sends
	// them to the followers, and every replica hands them to its FSM,
	// without reading them back from raft.db (bench raft, 256 appenders:
	// +15-30% events/s in interleaved runs; no change at 64).
	logCacheSize = 1024
)

// Member is one replica of the node: its raft id and address.
type Member struct {
	ID   string
	Addr string // host:port of its raft transport
}

// Config is one replica's.
type Config struct {
	// ID is this replica's raft id; Bind its raft address (host:port).
	ID, Bind string
	// Others are the node's other replicas.
	Others []Member
	// Dir holds raft's own files (raft.db, snapshots).
	Dir string
	// Store is the replica's event log, which the FSM appends to.
	Store *events.Store
	// Files are the files kept alike on every replica (the shares);
	// nil: none.
	Files Files
	// Restored, if set, is told when a snapshot was installed: its files
	// may include shares this replica had erased since (the node checks
	// its erasures again).
	Restored func()
	// Timeouts; zero takes the defaults above.
	HeartbeatTimeout, ElectionTimeout, LeaderLeaseTimeout time.Duration
	SnapshotThreshold, TrailingLogs                       uint64
	SnapshotInterval                                      time.Duration
	// NoSync skips raft's fsyncs: for simulations only, like the event
	// store's NoSync.
	NoSync bool
	// LogOutput receives raft's own log lines as JSON (nil: discarded);
	// LogLevel is hclog's (default "warn").
	LogOutput io.Writer
	LogLevel  string
	// ObserveCommit, if set, is told each leader append's commit latency
	// (metrics); it must return quickly.
	ObserveCommit func(time.Duration)
}

// Replica is this process's raft member.
type Replica struct {
	cfg       Config
	raft      *raft.Raft
	fsm       *fsm
	layer     *tcpLayer
	transport *raft.NetworkTransport
	boltStore *raftboltdb.BoltStore
	notify    chan bool
	closed    chan struct{} // closed by Close
	closeOnce sync.Once

	leaderChanges atomic.Uint64
	commitNanos   atomic.Int64 // the last leader append's commit latency
}

// Open starts the replica: it joins (or, on its first start, bootstraps
// with every configured member) the node's raft cluster.
func Open(cfg Config) (*Replica, error) {
	if cfg.ID == "" || cfg.Bind == "" || cfg.Store == nil || cfg.Dir == "" {
		return nil, errors.New("raft: id, bind address, directory and event log are required")
	}
	setDefaults(&cfg)
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("raft directory: %w", err)
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "raft", Output: cfg.LogOutput, JSONFormat: true, Level: hclog.LevelFromString(cfg.LogLevel)})
	if cfg.LogOutput == nil {
		logger = hclog.NewNullLogger()
	}
	r := &Replica{cfg: cfg, fsm: &fsm{store: cfg.Store, files: cfg.Files, restored: cfg.Restored}, notify: make(chan bool, 64), closed: make(chan struct{})}
	var err error
	fail := func(e error) (*Replica, error) {
		r.closeParts()
		return nil, e
	}
	if r.boltStore, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.Dir, "raft.db"), NoSync: cfg.NoSync}); err != nil {
		return fail(fmt.Errorf("raft store: %w", err))
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, logger)
	if err != nil {
		return fail(fmt.Errorf("raft snapshots: %w", err))
	}
	if r.layer, err = newTCPLayer(cfg.Bind); err != nil {
		return fail(fmt.Errorf("[raft] bind %s: %w", cfg.Bind, errors.Unwrap(err)))
	}
	r.transport = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{Stream: r.layer, MaxPool: 3, Timeout: 2 * time.Second, Logger: logger})

	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(cfg.ID)
	conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout
	conf.SnapshotThreshold, conf.TrailingLogs, conf.SnapshotInterval = cfg.SnapshotThreshold, cfg.TrailingLogs, cfg.SnapshotInterval
	conf.NotifyCh = r.notify
	conf.Logger = logger
	conf.BatchApplyCh = true
	conf.MaxAppendEntries = 256

	existing, err := raft.HasExistingState(r.boltStore, r.boltStore, snaps)
	if err != nil {
		return fail(fmt.Errorf("raft state: %w", err))
	}
	if !existing {
		if cfg.Store.LastSeq() > 0 && cfg.Store.RaftApplied() == 0 {
			return fail(fmt.Errorf("the log %s was written by a node without raft (%d events): a replica starts from an empty log", cfg.Store.Path(), cfg.Store.LastSeq()))
		}
		if cfg.Store.LastSeq() > 0 {
			// raft's own files are gone and the log is not: a new cluster
			// would count indexes from 1 again, and the log would take
			// the entries it believes it holds for old ones
			return fail(fmt.Errorf("%s holds no raft state, but the log %s holds %d replicated events: restore %s, or move the log away to start this replica from nothing",
				cfg.Dir, cfg.Store.Path(), cfg.Store.LastSeq(), cfg.Dir))
		}
		servers := []raft.Server{{ID: conf.LocalID, Address: raft.ServerAddress(r.layer.Addr().String())}}
		for _, m := range cfg.Others {
			servers = append(servers, raft.Server{ID: raft.ServerID(m.ID), Address: raft.ServerAddress(m.Addr)})
		}
		if err := raft.BootstrapCluster(conf, r.boltStore, r.boltStore, snaps, r.transport, raft.Configuration{Servers: servers}); err != nil {
			return fail(fmt.Errorf("raft bootstrap: %w", err))
		}
	}
	logs, err := raft.NewLogCache(logCacheSize, r.boltStore)
	if err != nil {
		return fail(fmt.Errorf("raft log cache: %w", err))
	}
	if r.raft, err = raft.NewRaft(conf, r.fsm, logs, r.boltStore, snaps, r.transport); err != nil {
		return fail(fmt.Errorf("raft: %w", err))
	}
	return r, nil
}

func setDefaults(cfg *Config) {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if cfg.ElectionTimeout == 0 {
		cfg.ElectionTimeout = DefaultElectionTimeout
	}
	if cfg.LeaderLeaseTimeout == 0 {
		cfg.LeaderLeaseTimeout = DefaultLeaderLeaseTimeout
	}
	if cfg.SnapshotThreshold == 0 {
		cfg.SnapshotThreshold = DefaultSnapshotThreshold
	}
	if cfg.TrailingLogs == 0 {
		cfg.TrailingLogs = DefaultTrailingLogs
	}
	if cfg.SnapshotInterval == 0 {
		cfg.SnapshotInterval = 30 * time.Second
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "warn"
	}
}

// Append proposes events as one raft entry and returns, once the entry is
// committed and in this replica's log, the seq of its first event. A
// replica that does not lead, or loses the lead meanwhile, gets
// events.ErrNotLeader: the entry may still be committed by the next
// leader, and then it is in the log like any other.
func (r *Replica) Append(evs ...events.Event) (uint64, error) {
	data, err := encodeEntry(evs)
	if err != nil {
		return 0, err
	}
	began := time.Now()
	res, err := r.apply(data)
	if err != nil {
		return 0, err
	}
	first, err := res.result()
	took := time.Since(began)
	r.commitNanos.Store(int64(took))
	if r.cfg.ObserveCommit != nil {
		r.cfg.ObserveCommit(took)
	}
	return first, err
}

// PutFile writes a file (a new share) on every replica through raft; it
// returns once the file is committed and written here.
func (r *Replica) PutFile(name string, data []byte) error {
	if r.cfg.Files == nil {
		return errors.New("this replica keeps no replicated files")
	}
	if err := r.cfg.Files.Check(name); err != nil {
		return err
	}
	entry, err := encodeFile(name, data)
	if err != nil {
		return err
	}
	res, err := r.apply(entry)
	if err != nil {
		return err
	}
	return res.err
}

// wait returns a future's error, or ErrRaftShutdown once the replica is
// closed: raft drops an entry still queued for its leader loop (the
// buffered apply channel) or for its FSM when it shuts down, and never
// answers its future (whose waiter, here, then stays blocked: one
// goroutine per dropped entry, only at a shutdown).
func (r *Replica) wait(f raft.Future) error {
	errc := make(chan error, 1)
	go func() { errc <- f.Error() }()
	select {
	case err := <-errc:
		return err
	case <-r.closed:
		select {
		case err := <-errc:
			return err
		default:
			return raft.ErrRaftShutdown
		}
	}
}

// apply proposes one entry and waits for the FSM's answer to it.
func (r *Replica) apply(data []byte) (applyResult, error) {
	select {
	case <-r.closed:
		return applyResult{}, fmt.Errorf("%w: %v", events.ErrNotLeader, raft.ErrRaftShutdown)
	default:
	}
	f := r.raft.Apply(data, applyTimeout)
	if err := r.wait(f); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) ||
			errors.Is(err, raft.ErrEnqueueTimeout) || errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			return applyResult{}, fmt.Errorf("%w: %v", events.ErrNotLeader, err)
		}
		return applyResult{}, err
	}
	res, ok := f.Response().(applyResult)
	if !ok {
		return applyResult{}, errors.New("raft: no answer from the log")
	}
	return res, nil
}

// Leadership reports this replica's gains (true) and losses (false) of
// the lead, in order (a buffered NotifyCh: raft's LeaderCh drops them).
func (r *Replica) Leadership() <-chan bool { return r.notify }

// NoteLeaderChange counts a change of leadership the caller acted on.
func (r *Replica) NoteLeaderChange() { r.leaderChanges.Add(1) }

// Barrier returns once every entry committed before it is in this
// replica's log: a new leader's first step.
func (r *Replica) Barrier(timeout time.Duration) error {
	if err := r.wait(r.raft.Barrier(timeout)); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) || errors.Is(err, raft.ErrRaftShutdown) {
			return fmt.Errorf("%w: %v", events.ErrNotLeader, err)
		}
		return err
	}
	r.fsm.waitDurable() // in the log, not only handed to it
	return r.fsm.failed()
}

// IsLeader says whether this replica leads now.
func (r *Replica) IsLeader() bool { return r.raft.State() == raft.Leader }

// Failed is the error that stopped the replica's FSM (its log refused a
// committed entry), nil while it works.
func (r *Replica) Failed() error { return r.fsm.failed() }

// Isolate cuts the replica off from the others (on) or reconnects it:
// a network partition on the real transport.
func (r *Replica) Isolate(on bool) { r.layer.isolate(on) }

// Snapshot takes a raft snapshot now.
func (r *Replica) Snapshot() error { return r.raft.Snapshot().Error() }

// Status is a replica's raft state at a glance.
type Status struct {
	ID            string  `json:"id"`
	Role          string  `json:"role"` // leader, follower, candidate, shutdown
	LeaderID      string  `json:"leader_id,omitempty"`
	LeaderAddr    string  `json:"leader_addr,omitempty"`
	Term          uint64  `json:"term"`
	LastIndex     uint64  `json:"last_index"`
	CommitIndex   uint64  `json:"commit_index"`
	AppliedIndex  uint64  `json:"applied_index"`
	LogApplied    uint64  `json:"log_applied_index"` // the last entry in the event log
	LeaderChanges uint64  `json:"leader_changes"`
	CommitSeconds float64 `json:"last_commit_seconds"`
}

// Status reports the replica's raft state.
func (r *Replica) Status() Status {
	addr, id := r.raft.LeaderWithID()
	var term uint64
	fmt.Sscan(r.raft.Stats()["term"], &term)
	return Status{
		ID: r.cfg.ID, Role: roleName(r.raft.State()), LeaderID: string(id), LeaderAddr: string(addr), Term: term,
		LastIndex: r.raft.LastIndex(), CommitIndex: r.raft.CommitIndex(), AppliedIndex: r.raft.AppliedIndex(),
		LogApplied: r.cfg.Store.RaftApplied(), LeaderChanges: r.leaderChanges.Load(),
		CommitSeconds: time.Duration(r.commitNanos.Load()).Seconds(),
	}
}

func roleName(s raft.RaftState) string {
	switch s {
	case raft.Leader:
		return "leader"
	case raft.Follower:
		return "follower"
	case raft.Candidate:
		return "candidate"
	}
	return "shutdown"
}

// Close stops the replica's raft member (not the event store).
func (r *Replica) Close() error {
	r.closeOnce.Do(func() { close(r.closed) })
	var err error
	if r.raft != nil {
		err = r.raft.Shutdown().Error()
	}
	return errors.Join(err, r.closeParts())
}

func (r *Replica) closeParts() error {
	var errs []error
	if r.transport != nil {
		errs = append(errs, r.transport.Close())
	} else if r.layer != nil {
		errs = append(errs, r.layer.Close())
	}
	if r.boltStore != nil {
		errs = append(errs, r.boltStore.Close())
	}
	return errors.Join(errs...)
}
