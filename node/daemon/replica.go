package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/node/metrics"
	"github.com/metanode/metanode/tss"
)

// An HA replica (DESIGN.md, point 5) follows the log raft replicates
// until raft makes it the leader; then it runs the node's duties (the
// p2p host, the clock, the chain watcher, the receive and send loops)
// under a context of their own, which ends when it loses the lead.
//
// A keygen or regroup that this replica leads seals the new share in its
// share store, which hands it to raft (ha.Replica.PutFile): every
// replica writes it into its own HOME/shares, and raft's snapshots carry
// the shares held, so a replica that takes over holds the current key's
// share.

// leadBarrier bounds a new leader's wait for every committed entry to be
// in its log before it runs.
const leadBarrier = 2 * time.Second

// rolePoll is how often the loop reads raft's state: role changes for
// the log, a failed FSM, and a lead not taken up yet.
const rolePoll = 500 * time.Millisecond

// replicaParts are what a replica opens besides the node.
type replicaParts struct {
	store   *events.Store
	replica *ha.Replica
}

// openReplica opens the replica's event log (HOME/log) and its raft
// member (HOME/raft). raft's own log lines go to stderr as JSON, warnings
// and errors only.
func openReplica(home string, rc RaftConfig, observe func(int, time.Duration), reg prometheus.Registerer, shares *tss.ShareStore, restored func()) (*replicaParts, error) {
	// a port in use is refused before anything is written
	l, err := listen("[raft] bind", rc.Bind)
	if err != nil {
		return nil, err
	}
	l.Close()
	store, err := events.Open(filepath.Join(home, node.LogDir), events.Options{Observe: observe})
	if err != nil {
		return nil, err
	}
	rm := metrics.NewRaft(reg)
	replica, err := ha.Open(ha.Config{ID: rc.ID, Bind: rc.Bind, Others: rc.Members(), Dir: filepath.Join(home, RaftDir), Store: store,
		LogOutput: os.Stderr, LogLevel: "warn", ObserveCommit: rm.ObserveCommit,
		Files: ha.DirFiles{Dir: shares.Dir(), Suffix: tss.ShareSuffix}, Restored: restored})
	if err != nil {
		store.Close()
		return nil, err
	}
	rm.Attach(replica.Status)
	shares.ReplicateWith(replica.PutFile)
	return &replicaParts{store: store, replica: replica}, nil
}

// checkErasure runs the node's erasure check after raft installed a
// snapshot, whose shares may include one this replica had erased (in the
// background: the FSM must not wait on argon2id).
func (d *daemon) checkErasure() {
	if n := d.node.Load(); n != nil {
		go n.CheckErasure()
	}
}

// close stops raft, then closes the log its FSM writes.
func (p *replicaParts) close() error {
	return errors.Join(p.replica.Close(), p.store.Close())
}

// followOrLead is a replica's life until ctx ends or the replica fails:
// following, it folds what raft appends (n.CatchUp on every advance of
// the log); gaining the lead, it waits for raft's barrier, leads (n.Lead)
// and starts the duties; losing it (raft says so, or an append of the
// duties' is refused), it stops them and follows. At the end the duties
// are stopped but the node still leads, so that n.Stop records its
// sessions as interrupted.
func (d *daemon) followOrLead(ctx context.Context, n *node.Node, p *replicaParts) error {
	replica, store := p.replica, p.store
	var cur *duties
	stepDown := func(why string) {
		if cur == nil {
			return
		}
		cur.stop()
		cur = nil
		d.host.Store(nil)
		d.ticked.Store(false)
		n.Follow()
		drain(d.inbox)
		drain(d.outbox) // fenced: what the former term queued is not sent
		d.log.Info("raft: stopped leading, following", "why", why)
	}
	tryLead := func() error {
		if err := replica.Barrier(leadBarrier); err != nil {
			if failed := replica.Failed(); failed != nil {
				return fmt.Errorf("raft: %w", failed)
			}
			d.log.Warn("raft: barrier of a new leader failed (trying again while it leads)", "err", err)
			return nil
		}
		host, send, err := d.openHost()
		if err != nil {
			return err
		}
		if err := n.Lead(); err != nil {
			host.Close()
			n.Follow()
			if errors.Is(err, events.ErrNotLeader) {
				d.log.Info("raft: lost the lead while taking it up", "err", err)
				return nil
			}
			return fmt.Errorf("lead: %w", err)
		}
		cur = d.startDuties(host, send)
		d.log.Info("raft: leading: the node runs here", "p2p", host.Addrs(), "log_seq", store.LastSeq())
		return nil
	}
	var last ha.Status
	noteRole := func() {
		st := replica.Status()
		if st.Role == last.Role && st.LeaderID == last.LeaderID && st.Term == last.Term {
			return
		}
		if st.LeaderID != last.LeaderID && st.LeaderID != "" {
			replica.NoteLeaderChange()
		}
		d.log.Info("raft role", "id", st.ID, "role", st.Role, "leader", st.LeaderID, "leader_addr", st.LeaderAddr, "term", st.Term)
		last = st
	}
	noteRole()
	poll := time.NewTicker(rolePoll)
	defer poll.Stop()
	for {
		var advanced, lost <-chan struct{}
		if cur == nil {
			advanced = store.Advanced()
		} else {
			lost = cur.lost
		}
		var err error
		select {
		case <-ctx.Done():
			if cur != nil {
				cur.stop()
				d.host.Store(nil)
			}
			return nil
		case gained := <-replica.Leadership():
			// act on raft's state now: a gain already lost again (still
			// queued, or lost while a barrier waited) steps down first
			lostSince := !gained
			for more := true; more; {
				select {
				case g := <-replica.Leadership():
					lostSince = lostSince || !g
				default:
					more = false
				}
			}
			noteRole()
			if lostSince {
				stepDown("raft: lost the lead")
			}
			if cur == nil && replica.IsLeader() {
				err = tryLead()
			}
		case <-lost:
			stepDown("an append was refused: not the leader")
		case <-advanced:
			if err = n.CatchUp(); err != nil {
				err = fmt.Errorf("catch up: %w", err)
			}
		case <-poll.C:
			noteRole()
			if failed := replica.Failed(); failed != nil {
				err = fmt.Errorf("raft: %w", failed)
			} else if leads := replica.IsLeader(); cur == nil && leads {
				err = tryLead()
			} else if cur != nil && !leads {
				stepDown("raft: no longer the leader")
			}
		}
		if err != nil {
			if cur != nil {
				cur.stop()
				d.host.Store(nil)
			}
			return err
		}
	}
}

func drain(c chan events.Signed) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
