package sim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"time"

	"github.com/metanode/metanode/events"
)

// Timing is how the simulated world keeps time. The default is realistic
// (PROTOCOL.md section 7): every node's clock has its own offset, tick
// phase and optional drift; every delivery happens at its own instant,
// between ticks, after a heavy-tailed delay; every node sees the chain
// (deposits, confirmations) after a lag of its own. Lockstep keeps the
// old world, where all nodes tick at one instant and every message lands
// before the next tick: for comparison only, since it hides every race
// across a phase or round boundary.
type Timing struct {
	// Lockstep: all clocks equal, ticks at whole seconds, deliveries
	// uniform in [0, MaxDelay] and handed over just before the next tick.
	Lockstep bool
	// ClockSpread: node clock offsets are uniform in
	// [-ClockSpread/2, ClockSpread/2] (default 2 s).
	ClockSpread time.Duration
	// DriftPPM: each node's clock runs fast or slow by up to this many
	// parts per million (uniform; default 0).
	DriftPPM float64
	// DelayMedian and DelayP99 shape the lognormal delivery delay
	// (defaults 100 ms and 1.5 s): most messages arrive fast, a few take
	// seconds, and messages overtake each other.
	DelayMedian, DelayP99 time.Duration
	// ChainLag: each node observes a chain fact (a deposit, a tx
	// confirmation) uniformly within this long after it happens
	// (default 3 s), as a chain adapter polling its own chain node would.
	ChainLag time.Duration
}

// Defaults of the realistic world.
const (
	DefaultClockSpread = 2 * time.Second
	DefaultDelayMedian = 100 * time.Millisecond
	DefaultDelayP99    = 1500 * time.Millisecond
	DefaultChainLag    = 3 * time.Second
)

func (t Timing) withDefaults() Timing {
	if t.ClockSpread == 0 {
		t.ClockSpread = DefaultClockSpread
	}
	if t.DelayMedian == 0 {
		t.DelayMedian = DefaultDelayMedian
	}
	if t.DelayP99 == 0 {
		t.DelayP99 = DefaultDelayP99
	}
	if t.ChainLag == 0 {
		t.ChainLag = DefaultChainLag
	}
	return t
}

// z99 is the standard normal's 99th percentile.
const z99 = 2.3263478740408408

// delay draws one delivery delay: lognormal with the configured median
// and 99th percentile.
func (t Timing) delay(rng *rand.Rand) time.Duration {
	sigma := math.Log(float64(t.DelayP99)/float64(t.DelayMedian)) / z99
	return time.Duration(float64(t.DelayMedian) * math.Exp(sigma*rng.NormFloat64()))
}

// clock is one node's view of time: local = global + offset + drift.
type clock struct {
	start  events.Time // the run's global start
	offset time.Duration
	phase  time.Duration // ticks fall at whole local seconds plus phase
	rate   float64       // 1 + drift
	ticks  int64         // ticks scheduled so far
}

func newClock(start events.Time, t Timing, rng *rand.Rand) clock {
	c := clock{start: start, rate: 1}
	if t.Lockstep {
		return c
	}
	c.offset = time.Duration((rng.Float64() - 0.5) * float64(t.ClockSpread))
	c.phase = time.Duration(rng.Int64N(int64(time.Second)))
	c.rate = 1 + (rng.Float64()*2-1)*t.DriftPPM/1e6
	return c
}

// local is the node's clock reading at a global instant.
func (c *clock) local(global events.Time) events.Time {
	return c.start.Add(c.offset + time.Duration(float64(global-c.start)*c.rate))
}

// global is the instant at which the node's clock reads local.
func (c *clock) global(local events.Time) events.Time {
	return c.start + events.Time(float64(local.Sub(c.start)-c.offset)/c.rate)
}

// nextTick returns the next tick's local reading and global instant: the
// clock ticks every local second at its phase, never before the run
// starts.
func (c *clock) nextTick() (local, global events.Time) {
	first := c.local(c.start).Sub(c.start) - c.phase // local seconds since start, less the phase
	k := int64(math.Ceil(float64(first) / float64(time.Second)))
	local = c.start.Add(time.Duration(k+c.ticks)*time.Second + c.phase)
	c.ticks++
	return local, c.global(local)
}

// arrivalKind says what reaches a node at an instant.
type arrivalKind uint8

const (
	arriveMessage arrivalKind = iota // a message off the network
	arriveTick                       // the node's clock ticks
	arriveFact                       // the node observes a chain fact (or a stand-in outcome)
)

// arrival is one thing that happens to one node at one global instant.
type arrival struct {
	at    events.Time
	seq   uint64 // ties keep scheduling order: deterministic
	to    int
	kind  arrivalKind
	msg   events.Signed
	fact  events.Event
	local events.Time // arriveTick: the node's clock reading
}

type arrivalQueue []arrival

func (q arrivalQueue) Len() int { return len(q) }
func (q arrivalQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q arrivalQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *arrivalQueue) Push(x any)   { *q = append(*q, x.(arrival)) }
func (q *arrivalQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// schedule queues an arrival.
func (s *Sim) schedule(a arrival) {
	s.sendSeq++
	a.seq = s.sendSeq
	heap.Push(&s.queue, a)
}

// scheduleTick queues node i's next tick.
func (s *Sim) scheduleTick(i int) {
	local, global := s.clocks[i].nextTick()
	s.schedule(arrival{at: global, to: i, kind: arriveTick, local: local})
}

// observe makes every node see a chain fact, each after its own lag (at
// once in lockstep).
func (s *Sim) observe(ev events.Event) error {
	for i, n := range s.nodes {
		if s.timing.Lockstep {
			if err := s.recordAt(n, ev); err != nil {
				return err
			}
			continue
		}
		lag := time.Duration(s.rng.Int64N(int64(s.timing.ChainLag) + 1))
		s.schedule(arrival{at: s.now.Add(lag), to: i, kind: arriveFact, fact: ev})
	}
	return nil
}

// realisticStep plays one second of global time: the world's doings at
// its start, then every delivery, tick and observation in the order of
// its instant.
func (s *Sim) realisticStep() error {
	if err := s.world(); err != nil {
		return err
	}
	end := s.now.Add(time.Second)
	// A node acts only on its ticks, and judges every message by its last
	// tick's time, so messages that reach it between two of its events are
	// handed over in one batch, in arrival order, just before its next
	// event: the same log as one by one, at a fraction of the appends. A
	// tss message goes at once: tss-lib answers it without waiting for a
	// tick.
	if s.inbox == nil {
		s.inbox = make([][]events.Signed, len(s.nodes))
	}
	inbox := s.inbox
	flush := func(i int) {
		if len(inbox[i]) > 0 {
			s.nodes[i].node.Receive(inbox[i]...)
			inbox[i] = inbox[i][:0]
		}
	}
	for s.queue.Len() > 0 && s.queue[0].at < end {
		a := heap.Pop(&s.queue).(arrival)
		s.now = max(s.now, a.at)
		n := s.nodes[a.to]
		if a.kind == arriveMessage && a.msg.Type != events.TypeTSS {
			inbox[a.to] = append(inbox[a.to], a.msg)
			continue
		}
		flush(a.to)
		switch a.kind {
		case arriveMessage:
			n.node.Receive(a.msg)
		case arriveFact:
			if err := s.recordAt(n, a.fact); err != nil {
				return err
			}
		case arriveTick:
			if err := s.ignoreNotLeader(n, n.node.Tick(a.local.Std())); err != nil {
				return err
			}
			s.scheduleTick(a.to)
		}
		if s.err != nil {
			return s.err
		}
	}
	// What is still in an inbox waits for its node's next event (a tick
	// within a second): the node would not act on it before then.
	s.now = end
	return s.err
}

// lockstepStep plays one second the old way: deliveries up to now, the
// world's doings, then every node's tick at the same instant.
func (s *Sim) lockstepStep() error {
	inbox := make([][]events.Signed, len(s.nodes))
	for s.queue.Len() > 0 && s.queue[0].at <= s.now {
		a := heap.Pop(&s.queue).(arrival)
		inbox[a.to] = append(inbox[a.to], a.msg) // only messages: facts are seen at once
	}
	for i, msgs := range inbox {
		s.nodes[i].node.Receive(msgs...)
	}
	if err := s.world(); err != nil {
		return err
	}
	for _, n := range s.nodes {
		if err := s.ignoreNotLeader(n, n.node.Tick(s.now.Std())); err != nil {
			return err
		}
	}
	s.now = s.now.Add(time.Second)
	return s.err
}

// deliveryDelay draws how long one message takes to one receiver.
func (s *Sim) deliveryDelay() time.Duration {
	if s.timing.Lockstep {
		return time.Duration(s.rng.Int64N(int64(s.cfg.MaxDelay) + 1))
	}
	return s.timing.delay(s.rng)
}
