package sim

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

// With Config.Replicas, node 0 runs as that many HA replicas over real
// raft on loopback TCP (package ha): one log per replica, the leader's
// node in the simulated network. Raft runs on the wall clock, so such a
// run is not reproducible by its seed alone; a new leader is waited for
// (in wall time, bounded) before the next step, so a failover costs no
// virtual time. Kills and partitions of the leader are the test's to
// order (KillLeader, PartitionLeader); the run checks itself
// (CheckReplicas).

// replicaMember is one replica of node 0.
type replicaMember struct {
	index   int
	dir     string
	addr    string
	store   *events.Store
	replica *ha.Replica
	node    *node.Node
	// dead: killed, not restarted yet; isolated: cut off by a partition
	dead, isolated bool
	outSince       int // step at which it was killed or cut off
	// sentWhileCut counts messages it published while cut off: fencing
	// says none
	sentWhileCut int
}

// replicaSet is node 0's replicas and what the run saw of them.
type replicaSet struct {
	members []*replicaMember
	leader  int // member whose node is node 0 now; -1: none yet
	epoch   int // leaderships so far
	steps   int
	// kill: the leader is to be killed after this many more appends;
	// killCommitted: after its append committed (before it returns)
	killIn        int
	killCommitted bool
	// flap: instead of a kill, the append commits and the replica hears
	// it lost the lead (raft's ErrLeadershipLost) while it still leads
	flap       bool
	flaps      int
	kills      int
	partitions int
	failovers  []time.Duration // wall time from loss to the new leader's Lead
	lostAt     time.Time
	// committed: every append that returned success, by seq, to check
	// against every replica's log at the end
	committed map[uint64]events.Hash
	// pending: chain facts and outcomes a replica refused while no leader
	// ran, recorded through the next leader
	pending [][]events.Event
	// sessions started by node 0 (StartSession), and its round messages
	// published: (type, round) -> the body's hash
	started    map[events.Hash]int
	published  map[string]events.Hash
	doubleSent int
	shares     map[events.Hash][]byte
}

// ReplicaReport is what a replicated run saw.
type ReplicaReport struct {
	Kills, Partitions, Flaps int
	Failovers                []time.Duration
	// SessionsStartedTwice: node 0 sessions whose start the shell was told
	// of twice; DoubleSent: (type, round) pairs node 0 published two
	// different messages for; SentWhileCut: messages a cut-off replica
	// published
	SessionsStartedTwice, DoubleSent, SentWhileCut int
	// Committed is how many appends returned success (each checked
	// present in every replica's log by CheckReplicas).
	Committed int
}

func (s *Sim) openReplicas(sn *simNode, dir string, cfg node.Config) error {
	rs := &replicaSet{leader: -1, killIn: -1, committed: map[uint64]events.Hash{}, started: map[events.Hash]int{},
		published: map[string]events.Hash{}, shares: map[events.Hash][]byte{}}
	s.replicas = rs
	addrs, err := loopbackAddrs(s.cfg.Replicas)
	if err != nil {
		return err
	}
	for i := range s.cfg.Replicas {
		m := &replicaMember{index: i, dir: filepath.Join(dir, fmt.Sprintf("replica-%d", i)), addr: addrs[i]}
		rs.members = append(rs.members, m)
	}
	for _, m := range rs.members {
		if err := s.startMember(sn, m, cfg); err != nil {
			return err
		}
	}
	s.replicaCfg = cfg
	return s.settleReplicas()
}

func loopbackAddrs(n int) ([]string, error) {
	var addrs []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// startMember opens (or reopens, after a kill) one replica, following.
func (s *Sim) startMember(sn *simNode, m *replicaMember, cfg node.Config) error {
	rs := s.replicas
	store, err := events.Open(filepath.Join(m.dir, "log"), events.Options{NoSync: true})
	if err != nil {
		return err
	}
	// small snapshots: restarts restore their own, and a replica far
	// behind installs the leader's
	hcfg := ha.Config{ID: fmt.Sprint("replica-", m.index), Bind: m.addr, Dir: filepath.Join(m.dir, "raft"), Store: store, NoSync: true,
		SnapshotThreshold: 64, TrailingLogs: 16, SnapshotInterval: 200 * time.Millisecond}
	for _, o := range rs.members {
		if o != m {
			hcfg.Others = append(hcfg.Others, ha.Member{ID: fmt.Sprint("replica-", o.index), Addr: o.addr})
		}
	}
	r, err := ha.Open(hcfg)
	if err != nil {
		store.Close()
		return err
	}
	cfg.Replicated = &node.Replicated{Store: store, Log: &killableLog{s: s, m: m, r: r}}
	cfg.Publish = func(msg events.Signed) {
		if m.isolated || m.dead {
			m.sentWhileCut++
		}
		s.notePublished(msg)
		s.publish(sn, msg)
	}
	n, err := node.Open(m.dir, cfg)
	if err != nil {
		r.Close()
		store.Close()
		return err
	}
	for key, share := range rs.shares {
		n.SetShare(key, share)
	}
	m.store, m.replica, m.node, m.dead = store, r, n, false
	return nil
}

// killableLog is a replica's appender that kills it when the test has
// armed a kill: before the append is proposed, or after it committed and
// before the node hears so (committed, never sent).
type killableLog struct {
	s *Sim
	m *replicaMember
	r *ha.Replica
}

func (l *killableLog) Append(evs ...events.Event) (uint64, error) {
	rs := l.s.replicas
	armed := rs.killIn >= 0 && rs.leader == l.m.index && !l.m.dead
	if armed && rs.killIn > 0 {
		rs.killIn--
		armed = false
	}
	if armed && rs.flap {
		l.append(evs)
		rs.killIn, rs.flap = -1, false
		rs.flaps++
		rs.lostAt = time.Now()
		return 0, fmt.Errorf("%w: leadership lost (its entry committed all the same)", events.ErrNotLeader)
	}
	if armed && !rs.killCommitted {
		l.s.kill(l.m)
		return 0, fmt.Errorf("%w: killed", events.ErrNotLeader)
	}
	first, err := l.append(evs)
	if armed {
		l.s.kill(l.m)
		return 0, fmt.Errorf("%w: killed after the commit", events.ErrNotLeader)
	}
	return first, err
}

// append appends through raft and notes what was committed where.
func (l *killableLog) append(evs []events.Event) (uint64, error) {
	first, err := l.r.Append(evs...)
	if err == nil {
		for i, ev := range evs {
			body, _ := events.EncodeEvent(nil, ev)
			l.s.replicas.committed[first+uint64(i)] = sha512.Sum512_256(body)
		}
	}
	return first, err
}

// kill stops a replica abruptly, as SIGKILL would: raft and its log
// close, its node records nothing more.
func (s *Sim) kill(m *replicaMember) {
	rs := s.replicas
	rs.killIn = -1
	rs.kills++
	rs.lostAt = time.Now()
	m.replica.Close()
	m.store.Close()
	m.dead, m.outSince = true, rs.steps
}

// KillLeader arms a kill of node 0's leader replica: after `after` more
// appends of its, before its next append is proposed or (committed) once
// it is committed.
func (s *Sim) KillLeader(after int, committed bool) {
	if s.replicas != nil {
		s.replicas.killIn, s.replicas.killCommitted, s.replicas.flap = after, committed, false
	}
}

// FlapLeader arms a flap of node 0's leader replica: after `after` more
// appends, one commits but the replica is told it lost the lead, and it
// is elected again at once (or not).
func (s *Sim) FlapLeader(after int) {
	if s.replicas != nil {
		s.replicas.killIn, s.replicas.flap = after, true
	}
}

// PartitionLeader cuts node 0's leader replica off from the others now;
// the run heals the partition a few steps after a new leader took over.
func (s *Sim) PartitionLeader() {
	rs := s.replicas
	if rs == nil || rs.leader < 0 {
		return
	}
	m := rs.members[rs.leader]
	if m.dead || m.isolated {
		return
	}
	m.replica.Isolate(true)
	m.isolated, m.outSince = true, rs.steps
	rs.partitions++
	rs.lostAt = time.Now()
}

// NodeZeroBusy says whether node 0 has a session whose stand-in outcome
// is pending (a kill now is a kill mid-session).
func (s *Sim) NodeZeroBusy() bool {
	for _, f := range s.finishes {
		if f.node == 0 {
			return true
		}
	}
	return false
}

// settleReplicas runs before every step: the leader still leads, or a
// new one takes over (waited for in wall time); followers fold their
// logs; killed replicas restart and cut-off ones reconnect a few steps
// after a new leader took over.
func (s *Sim) settleReplicas() error {
	rs := s.replicas
	if rs == nil {
		return nil
	}
	rs.steps++
	for _, m := range rs.members {
		if !m.dead {
			drain(m.replica.Leadership())
		}
	}
	if rs.leader >= 0 {
		m := rs.members[rs.leader]
		if m.dead || !m.replica.IsLeader() || !m.node.Leading() {
			if m.dead {
				m.node.Close() // its lock is free now: the step that killed it ended
			} else {
				m.node.Follow()
			}
			if rs.lostAt.IsZero() {
				rs.lostAt = time.Now()
			}
			rs.leader = -1
		}
	}
	if rs.leader < 0 {
		if err := s.takeOver(); err != nil {
			return err
		}
	}
	for _, m := range rs.members {
		switch {
		case m.dead && rs.steps-m.outSince >= 3:
			if err := s.startMember(s.nodes[0], m, s.replicaCfg); err != nil {
				return fmt.Errorf("restart replica %d: %w", m.index, err)
			}
		case m.isolated && rs.steps-m.outSince >= 3:
			m.replica.Isolate(false)
			m.isolated = false
		}
		if !m.dead && m.index != rs.leader {
			if err := m.node.CatchUp(); err != nil {
				return fmt.Errorf("replica %d: %w", m.index, err)
			}
		}
	}
	return nil
}

func drain(ch <-chan bool) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// takeOver waits (at most 15 s of wall time) for a live replica to lead,
// then makes its node node 0.
func (s *Sim) takeOver() error {
	rs := s.replicas
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range rs.members {
			if m.dead || m.isolated || !m.replica.IsLeader() {
				continue
			}
			if err := m.replica.Barrier(2 * time.Second); err != nil {
				if errors.Is(err, events.ErrNotLeader) {
					continue
				}
				return err
			}
			s.nodes[0].node = m.node
			rs.leader = m.index
			if err := m.node.Lead(); err != nil {
				rs.leader = -1
				if errors.Is(err, events.ErrNotLeader) {
					continue
				}
				return fmt.Errorf("replica %d takes the lead: %w", m.index, err)
			}
			rs.epoch++
			if !rs.lostAt.IsZero() {
				rs.failovers = append(rs.failovers, time.Since(rs.lostAt))
				rs.lostAt = time.Time{}
			}
			pending := rs.pending
			rs.pending = nil
			for _, evs := range pending {
				if err := s.recordAt(s.nodes[0], evs...); err != nil {
					return err
				}
			}
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return errors.New("node 0's replicas elected no leader within 15 s")
}

// recordAt records events at a node; node 0's replicas keep what no
// leader took for the next one (the daemon's chain watcher reads the
// chain again from its cursor when it takes over).
func (s *Sim) recordAt(n *simNode, evs ...events.Event) error {
	err := n.node.Record(evs...)
	if s.replicas != nil && n.index == 0 && errors.Is(err, events.ErrNotLeader) {
		s.replicas.pending = append(s.replicas.pending, evs)
		return nil
	}
	return err
}

// ignoreNotLeader drops the error of a replica that lost the lead.
func (s *Sim) ignoreNotLeader(n *simNode, err error) error {
	if s.replicas != nil && n.index == 0 && errors.Is(err, events.ErrNotLeader) {
		return nil
	}
	return err
}

// noteStarted counts node 0's session starts and the leadership they
// began under.
func (s *Sim) noteStarted(d projections.Duty) int {
	rs := s.replicas
	rs.started[d.Session]++
	return rs.epoch
}

// notePublished checks node 0's round messages: never two different ones
// of one type for one round.
func (s *Sim) notePublished(m events.Signed) {
	var round int64
	switch m.Type {
	case events.TypeProposal:
		var p events.Proposal
		_ = events.Unmarshal(m.Body, &p)
		round = p.Round
	case events.TypeSigningSet:
		var p events.SigningSet
		_ = events.Unmarshal(m.Body, &p)
		round = p.Round
	case events.TypeChecksum:
		var p events.Checksum
		_ = events.Unmarshal(m.Body, &p)
		round = p.Round
	default:
		return
	}
	key := fmt.Sprint(m.Type, "/", round)
	sum := sha512.Sum512_256(m.Body)
	if had, ok := s.replicas.published[key]; ok && had != sum {
		s.replicas.doubleSent++
	}
	s.replicas.published[key] = sum
}

// CheckReplicas ends a replicated run: every replica back and caught up
// (bounded wall time), then the checks of the issue: every committed
// append in every replica's log, the logs identical, no session started
// twice in them.
func (s *Sim) CheckReplicas() (*ReplicaReport, error) {
	rs := s.replicas
	if rs == nil {
		return nil, errors.New("not a replicated run")
	}
	for _, m := range rs.members {
		if m.dead {
			if err := s.startMember(s.nodes[0], m, s.replicaCfg); err != nil {
				return nil, err
			}
		}
		if m.isolated {
			m.replica.Isolate(false)
			m.isolated = false
		}
	}
	if err := s.settleReplicas(); err != nil {
		return nil, err
	}
	// one more append through the leader, then every log must reach it
	if err := s.nodes[0].node.Record(&events.Tick{Time: s.now}); err != nil {
		return nil, fmt.Errorf("final append: %w", err)
	}
	last := rs.members[rs.leader].store.LastSeq()
	deadline := time.Now().Add(15 * time.Second)
	for _, m := range rs.members {
		for m.store.LastSeq() < last {
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("replica %d's log stays at seq %d, the leader's is at %d", m.index, m.store.LastSeq(), last)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	report := &ReplicaReport{Kills: rs.kills, Partitions: rs.partitions, Flaps: rs.flaps, Failovers: rs.failovers,
		DoubleSent: rs.doubleSent, Committed: len(rs.committed)}
	for _, m := range rs.members {
		report.SentWhileCut += m.sentWhileCut
	}
	for _, n := range rs.started {
		if n > 1 {
			report.SessionsStartedTwice++
		}
	}
	first := rs.members[0].store
	for _, m := range rs.members {
		res, err := replay.Diff(first, m.store)
		if err != nil {
			return nil, err
		}
		if res.First != nil {
			return report, fmt.Errorf("replica %d's log differs from replica 0's: %v", m.index, res.First)
		}
		if res.LastA != res.LastB {
			return report, fmt.Errorf("replica %d's log has %d events, replica 0's %d", m.index, res.LastB, res.LastA)
		}
		starts := map[events.Hash]int{}
		finished := map[events.Hash]bool{}
		err = m.store.ForEachChunked(1, 0, func(seq uint64, ev events.Event) error {
			if fin, ok := ev.(*events.TSSSessionFinished); ok {
				finished[fin.Session] = true
			}
			if want, ok := rs.committed[seq]; ok {
				body, _ := events.EncodeEvent(nil, ev)
				if sha512.Sum512_256(body) != want {
					return fmt.Errorf("replica %d: seq %d is not the event committed there", m.index, seq)
				}
			}
			if st, ok := ev.(*events.TSSSessionStarted); ok {
				if starts[st.Session]++; starts[st.Session] > 1 {
					return fmt.Errorf("replica %d: session %s started twice (seq %d)", m.index, st.Session.String()[:12], seq)
				}
			}
			return nil
		})
		if err != nil {
			return report, err
		}
		// a session committed as started either ran (the shell heard of
		// it) or was recorded failed by the next leader: none is left
		// started and never run
		for session := range starts {
			if !finished[session] && rs.started[session] == 0 {
				return report, fmt.Errorf("replica %d: session %s committed as started, never run, never finished", m.index, session.String()[:12])
			}
		}
		if m.store.LastSeq() < maxKey(rs.committed) {
			return report, fmt.Errorf("replica %d's log ends at %d before a committed append (%d)", m.index, m.store.LastSeq(), maxKey(rs.committed))
		}
	}
	return report, nil
}

func maxKey(m map[uint64]events.Hash) uint64 {
	var top uint64
	for k := range m {
		top = max(top, k)
	}
	return top
}

func (s *Sim) closeReplicas() {
	rs := s.replicas
	if rs == nil {
		return
	}
	for _, m := range rs.members {
		if m.dead {
			continue
		}
		m.node.Close()
		m.replica.Close()
		m.store.Close()
		m.dead = true
	}
}

// setShare installs a stand-in key session's share at a node: at every
// replica of node 0 (standing in for a share store they would share).
func (s *Sim) setShare(n *simNode, key events.Hash, share []byte) {
	if n.index != 0 || s.replicas == nil {
		n.node.SetShare(key, share)
		return
	}
	s.replicas.shares[key] = share
	for _, m := range s.replicas.members {
		if !m.dead {
			m.node.SetShare(key, share)
		}
	}
}
