package node

import (
	"errors"
	"sync"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// With TSS.Async each tss session is an actor: its tss-lib steps (the
// proofs of keygen, signing and resharing: up to seconds each) run on a
// goroutine of its own, off the node's lock, so a step never delays a
// tick, a ping or another session. Messages for the session are queued
// to it; after each step the node takes the lock only to sign, seal, log
// and send what the step produced (still logged before it leaves) and to
// record the outcome. Without Async (the simulator) steps run inline
// under the lock, in input order, so a seeded run stays reproducible.

// sessionJob is one step of a session's actor: its start, or a message.
type sessionJob struct {
	start bool
	in    tss.Incoming
}

// actor is a session's step queue and the lock its parties are used under.
type actor struct {
	steps sync.Mutex // held during a step and by anyone reading the parties
	mu    sync.Mutex // guards queue and stopped
	queue []sessionJob
	wake  chan struct{}
	stop  bool
}

func newActor() *actor { return &actor{wake: make(chan struct{}, 1)} }

// enqueue adds a step; it never blocks (the queue is unbounded: a
// session's messages are bounded by its parties and rounds, and by the
// early-message bounds before it starts).
func (a *actor) enqueue(j sessionJob) {
	a.mu.Lock()
	if !a.stop {
		a.queue = append(a.queue, j)
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// halt ends the actor after the step under way, if any.
func (a *actor) halt() {
	a.mu.Lock()
	a.stop, a.queue = true, nil
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// next waits for the next step; false when halted.
func (a *actor) next() (sessionJob, bool) {
	for {
		a.mu.Lock()
		if a.stop {
			a.mu.Unlock()
			return sessionJob{}, false
		}
		if len(a.queue) > 0 {
			j := a.queue[0]
			a.queue = a.queue[1:]
			a.mu.Unlock()
			return j, true
		}
		a.mu.Unlock()
		<-a.wake
	}
}

// async reports whether sessions run as actors.
func (n *Node) async() bool { return n.cfg.TSS != nil && n.cfg.TSS.Async }

// lockParts takes a session's parties for reading or an inline step; a
// no-op without actors (the node's lock is enough then).
func (s *session) lockParts() func() {
	if s.actor == nil {
		return func() {}
	}
	s.actor.steps.Lock()
	return s.actor.steps.Unlock
}

// runActor steps a session until it ends: each step off the node's lock,
// then its output sent and its outcome recorded under the lock.
func (n *Node) runActor(s *session) {
	for {
		job, ok := s.actor.next()
		if !ok {
			return
		}
		s.actor.steps.Lock()
		var out []tss.Outgoing
		for _, p := range s.parts() {
			if job.start {
				out = append(out, p.Start()...)
			} else {
				out = append(out, p.Deliver(job.in)...)
			}
		}
		s.actor.steps.Unlock()
		n.stepped(s, out)
	}
}

// stepped sends what a step produced and records the session's outcome
// once it has one.
func (n *Node) stepped(s *session, out []tss.Outgoing) {
	var fx effects
	n.mu.Lock()
	if n.sessions[s.duty.Session] == s {
		err := n.sendTSS(s, out, &fx)
		if err == nil {
			err = n.finishIfDone(s, &fx)
		}
		if errors.Is(err, events.ErrNotLeader) {
			fx = effects{} // fenced
		} else if err != nil && !errors.Is(err, events.ErrClosed) && n.receiveErr == nil {
			n.receiveErr = err // the next Tick reports it
		}
	}
	n.mu.Unlock()
	n.apply(&fx)
}

// haltActors stops every session's actor (the node stops).
func (n *Node) haltActors() {
	for _, s := range n.sessions {
		if s.actor != nil {
			s.actor.halt()
		}
	}
}
