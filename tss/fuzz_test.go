package tss

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/big"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/metanode/metanode/events"
)

// The fuzz targets of Session.Deliver replay a real session's messages
// to one victim party up to the fuzzed message, deliver that message
// mutated, then the rest of what the victim received. Nothing may panic:
// a panic on one of tss-lib's own goroutines kills the fuzz worker (the
// finding this guards against), and a panic tss-lib raises on the
// session's goroutine (recovered as a failed session) fails the target
// too, since validation should have dropped the message that caused it.
//
// A fuzz input is the index of a recorded delivery and a program of
// mutations (mutate): most keep the message parseable, so they reach
// the field checks and, when they pass those, tss-lib. A victim whose
// mutated message was rejected never handed anything to tss-lib, so it
// is kept for the next input at the same delivery: the slow part of an
// execution, the victim's own proofs and checks up to that point, is
// paid once per delivery and per accepted mutation.

// Seeds: the first and the last delivery unchanged (the replay must end
// as recorded). testdata/fuzz holds the inputs that crashed or failed
// before validation existed, one per way in.
func FuzzDeliverKeygen(f *testing.F) {
	fuzzDeliver(f, keygenRecording, []fuzzSeed{{0, nil}, {keygenDeliveries - 1, nil}})
}

func FuzzDeliverSigning(f *testing.F) {
	fuzzDeliver(f, signingRecording, []fuzzSeed{{0, nil}, {signingDeliveries - 1, nil}})
}

func FuzzDeliverResharing(f *testing.F) {
	fuzzDeliver(f, resharingRecording, []fuzzSeed{{0, nil}, {resharingDeliveries - 1, nil}})
}

// fuzzSeed is a seed input: a delivery index and a mutation program.
// Few, since each runs as a unit test; the fuzzer finds the others.
type fuzzSeed struct {
	index   uint16
	program []byte
}

// fuzzing reports whether this is a fuzzing run (coordinator or worker).
func fuzzing() bool {
	fuzz := flag.Lookup("test.fuzz")
	return fuzz != nil && fuzz.Value.String() != ""
}

// fuzzBudget bounds the work of one input in a fuzz worker, which has 10
// seconds for it and can be slowed by anything else on the machine:
// replaying the victim stops at half of it (kept, to go on with at the
// next input), delivering the rest of the session at all of it, leaving
// the last step room to finish: one tss-lib round start (a new
// resharing party's DLN and mod proofs, keygen's checks of them) takes
// about a second of CPU, and more than 6 s of wall time has been seen
// on this shared 2-core machine. An input that ran out of time simply
// ends there; unit tests always deliver everything.
const fuzzBudget = 2 * time.Second

// fuzzWorker reports whether this process runs inputs for a fuzzing
// coordinator.
func fuzzWorker() bool {
	worker := flag.Lookup("test.fuzzworker")
	return worker != nil && worker.Value.String() == "true"
}

func fuzzDeliver(f *testing.F, record func(testing.TB) *recording, seeds []fuzzSeed) {
	// Seeds: every delivery as it was (reaching the end of the session),
	// then a zero and a huge value in each field of each delivery.
	// The unchanged replays run as unit tests; a fuzzer starts from the
	// regression inputs, since Go gives a fuzz input 10 seconds and a
	// whole replay can take longer on a loaded machine.
	if !fuzzing() {
		for _, seed := range seeds {
			f.Add(seed.index, seed.program)
		}
	}
	// A fuzz worker gives each input 10 seconds, so it records before it
	// takes any; the coordinator never runs an input and records nothing.
	if fuzzWorker() {
		record(f)
	}
	f.Fuzz(func(t *testing.T, index uint16, program []byte) {
		rec := record(t)
		// Inputs pick among the tss-lib messages; the broadcast check's
		// echoes between them are replayed as they were.
		i := rec.messages[int(index)%len(rec.messages)]
		in, ok := mutate(rec.deliveries[i].in, program, rec.protocolTypes)
		if !ok {
			return
		}
		rec.deliver(t, i, in)
	})
}

// recording is a real session: how to set each party up afresh and the
// deliveries of the run, in order.
type recording struct {
	protocol      protocol
	parties       []recordedParty
	deliveries    []delivery
	messages      []int                   // the deliveries that carry a tss-lib message (not an echo)
	protocolTypes []protoreflect.FullName // content types of the protocol, for type confusion

	mu   sync.Mutex
	pool map[int][]replayed // by party: replays kept for later inputs
}

type recordedParty struct {
	peer events.PeerID
	side Side
	new  func() runner
}

type delivery struct {
	to int // index into parties
	in Incoming
}

// runner is a session of any result type.
type runner struct {
	start   func() []Outgoing
	deliver func(Incoming) []Outgoing
	admit   func(Incoming) bool
	agree   func(Incoming) []Incoming
	outcome func() (events.Outcome, error, bool)
	value   func() any
}

func runnerOf[T any](s *Session[T]) runner {
	return runner{
		start:   s.Start,
		deliver: s.Deliver,
		admit:   s.admit,
		agree:   s.agreeingEchoes,
		outcome: func() (events.Outcome, error, bool) {
			r, ok := s.Result()
			return r.Outcome, r.Err, ok
		},
		value: func() any { r, _ := s.Result(); return r.Value },
	}
}

// run plays the session among all parties, each message delivered in
// the order sent, records the deliveries (want of them) and returns each
// party's result.
func (rec *recording) run(want int) ([]any, error) {
	runners := make([]runner, len(rec.parties))
	var queue []delivery
	send := func(from int, out []Outgoing) {
		for _, o := range out {
			queue = append(queue, rec.fanout(from, o)...)
		}
	}
	for i, p := range rec.parties {
		runners[i] = p.new()
	}
	for i := range runners {
		send(i, runners[i].start())
	}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		rec.deliveries = append(rec.deliveries, d)
		send(d.to, runners[d.to].deliver(d.in))
	}
	values := make([]any, len(runners))
	for i, r := range runners {
		outcome, err, _ := r.outcome()
		if outcome != events.OutcomeSuccess {
			return nil, fmt.Errorf("party %d: %s %v", i, outcome, err)
		}
		values[i] = r.value()
	}
	for i, d := range rec.deliveries {
		if len(d.in.Echo) == 0 {
			rec.messages = append(rec.messages, i)
		}
	}
	if len(rec.messages) != want {
		return nil, fmt.Errorf("%d deliveries of tss-lib messages, want %d", len(rec.messages), want)
	}
	return values, nil
}

// message is the i-th delivery of a tss-lib message (echoes left out).
func (rec *recording) message(i int) delivery { return rec.deliveries[rec.messages[i]] }

// fanout addresses one sent message as the memory network does.
func (rec *recording) fanout(from int, o Outgoing) []delivery {
	sender := rec.parties[from]
	var toSides []Side
	if o.ToOld {
		toSides = append(toSides, SideOld)
	}
	if o.ToNew {
		toSides = append(toSides, SideNew)
	}
	if len(toSides) == 0 {
		toSides = []Side{SideOnly}
	}
	var out []delivery
	for _, side := range toSides {
		for j, p := range rec.parties {
			if p.side != side || (p.peer == sender.peer && side == o.FromSide) {
				continue
			}
			if len(o.To) > 0 && !containsPeer(o.To, p.peer) {
				continue
			}
			out = append(out, delivery{to: j, in: Incoming{Session: o.Session, From: sender.peer, FromSide: o.FromSide, ToSide: side, Broadcast: o.Broadcast, Payload: o.Payload, Echo: o.Echo}})
		}
	}
	return out
}

func containsPeer(list []events.PeerID, p events.PeerID) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// deliver brings the recipient of delivery i to where it was just before
// it, hands it in instead, then everything it received after.
func (rec *recording) deliver(t *testing.T, i int, in Incoming) {
	start := time.Now()
	to := rec.deliveries[i].to
	victim, ready := rec.takeVictim(i, start)
	if !ready {
		return // out of time building it: the next input goes on from there
	}
	if !victim.admit(in) {
		// Rejected before tss-lib: Deliver must drop it and leave the
		// party as it was, ready for the next input at i.
		if out := victim.deliver(in); out != nil {
			t.Fatalf("a rejected message produced %d messages", len(out))
		}
		rec.keepVictim(to, i, victim)
		return
	}
	if overBudget(start, fuzzBudget/2) {
		rec.keepVictim(to, i, victim) // built, but no time left to use it
		return
	}
	victim.deliver(in)
	// The other receivers of a broadcast agree with whatever it became
	// (the worst case: they are in league with its sender), so the
	// broadcast check hands it to tss-lib, which the fuzzer is after.
	for _, echo := range victim.agree(in) {
		victim.deliver(echo)
	}
	for _, d := range rec.deliveries[i+1:] {
		if _, _, over := victim.outcome(); over {
			break
		}
		if overBudget(start, fuzzBudget) {
			return // out of time: what was delivered did not crash
		}
		if d.to == to {
			victim.deliver(d.in)
		}
	}
	outcome, err, over := victim.outcome()
	if over && err != nil && strings.Contains(err.Error(), "tss-lib panicked") {
		t.Fatalf("delivery %d: tss-lib panicked on an admitted message: %v", i, err)
	}
	// An unchanged message replays the recording: the party must end as
	// it did then, or the replay is not the session it claims to be.
	if original := rec.deliveries[i].in; bytes.Equal(in.Payload, original.Payload) && in.Broadcast == original.Broadcast && in.FromSide == original.FromSide &&
		outcome != events.OutcomeSuccess {
		t.Fatalf("delivery %d unchanged: the replayed party ends %s (%v), not as recorded", i, outcome, err)
	}
}

// overBudget reports whether a fuzz worker's input has used budget.
func overBudget(start time.Time, budget time.Duration) bool {
	return fuzzWorker() && time.Since(start) > budget
}

// replayed is a party that has received exactly the recorded deliveries
// before pos that were for it, and nothing else.
type replayed struct {
	pos int
	r   runner
}

// takeVictim returns the recipient of delivery i just before it: the
// furthest kept replay of that party not past i, taken on from there (a
// fresh one if none). A fuzz worker stops replaying when half its
// budget is gone and keeps what it has (false).
func (rec *recording) takeVictim(i int, start time.Time) (runner, bool) {
	to := rec.deliveries[i].to
	rec.mu.Lock()
	best := -1
	for k, p := range rec.pool[to] {
		if p.pos <= i && (best < 0 || p.pos > rec.pool[to][best].pos) {
			best = k
		}
	}
	var v replayed
	if best >= 0 {
		v = rec.pool[to][best]
		rec.pool[to] = slices.Delete(rec.pool[to], best, best+1)
	}
	rec.mu.Unlock()
	if best < 0 {
		v = replayed{r: rec.parties[to].new()}
		v.r.start()
	}
	for ; v.pos < i; v.pos++ {
		if overBudget(start, fuzzBudget/2) {
			rec.keepVictim(to, v.pos, v.r)
			return runner{}, false
		}
		if d := rec.deliveries[v.pos]; d.to == to {
			v.r.deliver(d.in)
		}
	}
	return v.r, true
}

// keepVictim keeps party to's replay up to pos, at most 64 per party
// (then the least advanced goes).
func (rec *recording) keepVictim(to, pos int, r runner) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.pool == nil {
		rec.pool = map[int][]replayed{}
	}
	rec.pool[to] = append(rec.pool[to], replayed{pos: pos, r: r})
	if len(rec.pool[to]) > 64 {
		least := 0
		for k, p := range rec.pool[to] {
			if p.pos < rec.pool[to][least].pos {
				least = k
			}
		}
		rec.pool[to] = slices.Delete(rec.pool[to], least, least+1)
	}
}

// Mutation programs: each step names an operation and its operands;
// fields are chosen by index among the content's fields, values among a
// repeated field's values, both modulo their count.
const (
	opFlipBit   = iota // field, value, bit (2 bytes)
	opSet              // field, value, length, bytes
	opConst            // field, value, constant
	opTruncate         // field, value, length (2 bytes)
	opExtend           // field, value, count (x64 bytes of 0xff)
	opDelete           // field, value: drop a repeated field's value
	opDuplicate        // field, value: repeat a repeated field's value
	opCopy             // field, value, field, value: copy a value over another
	opRetype           // type: the content under another type of the protocol
	opRoute            // flags: flip broadcast, change the sender's side
	opRaw              // offset (2 bytes), byte: xor into the final payload
	opCount
)

// constants are values tss-lib treats specially: zero, one, the group
// order and its neighbours, the field prime, 2^63 and 2^64-1 (Int64
// wraps), 128 (a DLN proof's part length), a 2048-bit even number.
var constants = func() [][]byte {
	q := curveOrder
	p := curve().Params().P
	add := func(x *big.Int, d int64) []byte { return new(big.Int).Add(x, big.NewInt(d)).Bytes() }
	even := new(big.Int).Lsh(big.NewInt(1), 2047)
	return [][]byte{{}, {0}, {1}, q.Bytes(), add(q, -1), add(q, 1), p.Bytes(), new(big.Int).Lsh(q, 1).Bytes(),
		new(big.Int).Lsh(big.NewInt(1), 63).Bytes(), add(new(big.Int).Lsh(big.NewInt(1), 64), -1), {128}, even.Bytes(), {2}}
}()

// mutate applies program to a message's content and re-encodes it; false
// if the payload does not decode (a recorded message always does).
func mutate(in Incoming, program []byte, types []protoreflect.FullName) (Incoming, bool) {
	var wire anypb.Any
	if err := proto.Unmarshal(in.Payload, &wire); err != nil {
		return in, false
	}
	content, err := wire.UnmarshalNew()
	if err != nil {
		return in, false
	}
	var raw [][3]int // offset, byte, applied after encoding
	next := func() int {
		if len(program) == 0 {
			return 0
		}
		b := int(program[0])
		program = program[1:]
		return b
	}
	for steps := 0; len(program) > 0 && steps < 16; steps++ {
		op := next() % opCount
		switch op {
		case opRetype:
			if t := types[next()%len(types)]; t != content.ProtoReflect().Descriptor().FullName() {
				if mt, err := protoRegistryType(t); err == nil {
					b, _ := proto.Marshal(content)
					other := mt.New().Interface()
					if proto.Unmarshal(b, other) == nil {
						content = other
					}
				}
			}
			continue
		case opRoute:
			flags := next()
			if flags&1 != 0 {
				in.Broadcast = !in.Broadcast
			}
			if flags&2 != 0 {
				in.FromSide = Side((int(in.FromSide) + 1 + flags>>2) % 3)
			}
			continue
		case opRaw:
			raw = append(raw, [3]int{next()<<8 | next(), next(), 0})
			continue
		}
		m := content.ProtoReflect()
		fields := m.Descriptor().Fields()
		if fields.Len() == 0 {
			continue
		}
		f := fields.Get(next() % fields.Len())
		get, set, count := valueAccess(m, f, next())
		switch op {
		case opFlipBit:
			b := []byte(string(get()))
			if len(b) > 0 {
				bit := (next()<<8 | next()) % (8 * len(b))
				b[bit/8] ^= 1 << (bit % 8)
				set(b)
			}
		case opSet:
			n := next() % 48
			b := make([]byte, 0, n)
			for range n {
				b = append(b, byte(next()))
			}
			set(b)
		case opConst:
			set(constants[next()%len(constants)])
		case opTruncate:
			b := get()
			if len(b) > 0 {
				set(b[:(next()<<8|next())%len(b)])
			}
		case opExtend:
			extra := make([]byte, 64*(next()%32+1))
			for i := range extra {
				extra[i] = 0xff
			}
			set(append([]byte(string(get())), extra...))
		case opDelete, opDuplicate:
			if f.IsList() && count > 0 {
				list := m.Mutable(f).List()
				k := next() % count
				if op == opDuplicate {
					list.Append(protoreflect.ValueOfBytes([]byte(string(list.Get(k).Bytes()))))
					continue
				}
				values := make([][]byte, 0, count)
				for j := range count {
					if j != k {
						values = append(values, list.Get(j).Bytes())
					}
				}
				list.Truncate(0)
				for _, v := range values {
					list.Append(protoreflect.ValueOfBytes(v))
				}
			}
		case opCopy:
			value := []byte(string(get()))
			g := fields.Get(next() % fields.Len())
			_, setOther, _ := valueAccess(m, g, next())
			setOther(value)
		}
	}
	repacked, err := anypb.New(content)
	if err != nil {
		return in, false
	}
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(repacked)
	if err != nil {
		return in, false
	}
	for _, r := range raw {
		if len(payload) > 0 {
			payload[r[0]%len(payload)] ^= byte(r[1])
		}
	}
	in.Payload = payload
	return in, true
}

func protoRegistryType(name protoreflect.FullName) (protoreflect.MessageType, error) {
	return protoregistry.GlobalTypes.FindMessageByName(name)
}

// valueAccess reads and writes one value of field f: the field itself,
// or value pick of a repeated field (appending to an empty one).
func valueAccess(m protoreflect.Message, f protoreflect.FieldDescriptor, pick int) (get func() []byte, set func([]byte), count int) {
	if !f.IsList() {
		return func() []byte { return m.Get(f).Bytes() },
			func(b []byte) { m.Set(f, protoreflect.ValueOfBytes(b)) }, 0
	}
	list := m.Mutable(f).List()
	count = list.Len()
	if count == 0 {
		return func() []byte { return nil },
			func(b []byte) { list.Append(protoreflect.ValueOfBytes(b)) }, 0
	}
	k := pick % count
	return func() []byte { return list.Get(k).Bytes() },
		func(b []byte) { list.Set(k, protoreflect.ValueOfBytes(b)) }, count
}

// goroutineRand is a party's randomness for a reproducible recording:
// every goroutine that reads it draws from its own stream, named by the
// outermost tss-lib function on its stack, so the values a party draws
// do not depend on how its goroutines are scheduled (in signing round 2
// tss-lib draws on two goroutines per peer at once; with one peer, as
// here, their functions tell them apart).
type goroutineRand struct {
	mu      sync.Mutex
	seed    []byte
	streams map[string]*randStream
}

type randStream struct {
	counter uint64
	buf     []byte
}

func newGoroutineRand(label string) *goroutineRand {
	return &goroutineRand{seed: []byte(label), streams: map[string]*randStream{}}
}

func (r *goroutineRand) Read(p []byte) (int, error) {
	key := outermostTSSLib()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.streams[key]
	if s == nil {
		s = &randStream{}
		r.streams[key] = s
	}
	for len(s.buf) < len(p) {
		h := sha512.New()
		h.Write(r.seed)
		h.Write([]byte(key))
		h.Write(binary.BigEndian.AppendUint64(nil, s.counter))
		s.counter++
		s.buf = h.Sum(s.buf)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func outermostTSSLib() string {
	pcs := make([]uintptr, 256)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	last := ""
	for {
		f, more := frames.Next()
		if strings.HasPrefix(f.Function, "github.com/bnb-chain/tss-lib/") {
			last = f.Function
		}
		if !more {
			return last
		}
	}
}

// The recordings, made once per fuzz process (never by the coordinator,
// which only needs the seeds): keygen n=2 t=1 with the committed
// fixtures' pre-parameters (the smallest committee, since one keygen
// step verifies every peer's proofs and must fit in a fuzz input's 10
// seconds on a loaded machine), signing by both shares, and a
// resharing from them to a new committee of three, one of the old
// peers among them. Their delivery counts are fixed by the protocols.
const (
	keygenDeliveries    = 8  // 2 parties x 4 messages
	signingDeliveries   = 20 // 2 parties x 10 rounds' messages
	resharingDeliveries = 48 // 6 + 12 + 12 + 18
)

var recordings struct {
	keygen, signing, resharing struct {
		once sync.Once
		rec  *recording
		err  error
	}
	keys []*keygen.LocalPartySaveData
}

func fuzzHash(label string) events.Hash { return sha512.Sum512_256([]byte(label)) }

func fuzzPeers() []events.PeerID {
	return []events.PeerID{testKeyPeer(0), testKeyPeer(1), testKeyPeer(2), testKeyPeer(3)}
}

func fuzzPreParams() ([]keygen.LocalPreParams, error) {
	fixture, err := loadTestKeys(5, 2)
	if err != nil {
		return nil, err
	}
	pre := make([]keygen.LocalPreParams, len(fixture))
	for i, k := range fixture {
		pre[i] = k.LocalPreParams
	}
	return pre, nil
}

func keygenRecording(tb testing.TB) *recording {
	tb.Helper()
	r := &recordings.keygen
	r.once.Do(func() {
		pre, err := fuzzPreParams()
		if err != nil {
			r.err = err
			return
		}
		committee := fuzzPeers()[:2]
		rec := &recording{protocol: protocolKeygen, protocolTypes: protocolTypes(protocolKeygen)}
		for i, p := range committee {
			rec.parties = append(rec.parties, recordedParty{peer: p, side: SideOnly, new: func() runner {
				return runnerOf(Keygen{Session: fuzzHash("fuzz keygen"), Self: p, Committee: committee, Threshold: 1, PreParams: pre[i],
					Rand: newGoroutineRand(fmt.Sprintf("keygen %d", i))}.NewSession())
			}})
		}
		values, err := rec.run(keygenDeliveries)
		if err != nil {
			r.err = fmt.Errorf("keygen: %w", err)
			return
		}
		for _, v := range values {
			recordings.keys = append(recordings.keys, v.(*keygen.LocalPartySaveData))
		}
		r.rec = rec
	})
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.rec
}

// fuzzKey is a copy of keygen party i's key data: an old resharing party
// zeroes its share in place when it is done.
func fuzzKey(i int) *keygen.LocalPartySaveData { return cloneKey(recordings.keys[i]) }

// cloneKey is a deep copy of key data.
func cloneKey(key *keygen.LocalPartySaveData) *keygen.LocalPartySaveData {
	b, err := json.Marshal(key)
	if err != nil {
		panic(err)
	}
	var k keygen.LocalPartySaveData
	if err := json.Unmarshal(b, &k); err != nil {
		panic(err)
	}
	for _, x := range k.BigXj {
		x.SetCurve(curve())
	}
	k.ECDSAPub.SetCurve(curve())
	return &k
}

func signingRecording(tb testing.TB) *recording {
	tb.Helper()
	keygenRecording(tb)
	r := &recordings.signing
	r.once.Do(func() {
		peers := fuzzPeers()
		signers := []Party{{Peer: peers[0], Key: recordings.keys[0].ShareID}, {Peer: peers[1], Key: recordings.keys[1].ShareID}}
		rec := &recording{protocol: protocolSigning, protocolTypes: protocolTypes(protocolSigning)}
		for i, p := range signers {
			rec.parties = append(rec.parties, recordedParty{peer: p.Peer, side: SideOnly, new: func() runner {
				return runnerOf(Signing{Session: fuzzHash("fuzz signing"), Self: p.Peer, Signers: signers, Threshold: 1, Key: *fuzzKey(i),
					Digest: fuzzHash("fuzz document"), Rand: newGoroutineRand(fmt.Sprintf("signing %d", i))}.NewSession())
			}})
		}
		if _, err := rec.run(signingDeliveries); err != nil {
			r.err = fmt.Errorf("signing: %w", err)
			return
		}
		r.rec = rec
	})
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.rec
}

func resharingRecording(tb testing.TB) *recording {
	tb.Helper()
	keygenRecording(tb)
	r := &recordings.resharing
	r.once.Do(func() {
		pre, err := fuzzPreParams()
		if err != nil {
			r.err = err
			return
		}
		peers := fuzzPeers()
		old := []Party{{Peer: peers[0], Key: recordings.keys[0].ShareID}, {Peer: peers[1], Key: recordings.keys[1].ShareID}}
		newCommittee := peers[1:4]
		session := fuzzHash("fuzz resharing")
		rec := &recording{protocol: protocolResharing, protocolTypes: protocolTypes(protocolResharing)}
		for i, p := range old {
			rec.parties = append(rec.parties, recordedParty{peer: p.Peer, side: SideOld, new: func() runner {
				return runnerOf(Resharing{Session: session, Self: p.Peer, Old: old, New: newCommittee, OldThreshold: 1, NewThreshold: 1,
					Key: fuzzKey(i), Rand: newGoroutineRand(fmt.Sprintf("resharing old %d", i))}.NewSession(false))
			}})
		}
		for i, p := range newCommittee {
			rec.parties = append(rec.parties, recordedParty{peer: p, side: SideNew, new: func() runner {
				pp := pre[(i+2)%len(pre)]
				return runnerOf(Resharing{Session: session, Self: p, Old: old, New: newCommittee, OldThreshold: 1, NewThreshold: 1,
					PreParams: &pp, Rand: newGoroutineRand(fmt.Sprintf("resharing new %d", i))}.NewSession(true))
			}})
		}
		if _, err := rec.run(resharingDeliveries); err != nil {
			r.err = fmt.Errorf("resharing: %w", err)
			return
		}
		r.rec = rec
	})
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.rec
}

// protocolTypes lists a protocol's content types in a fixed order.
func protocolTypes(p protocol) []protoreflect.FullName {
	var out []protoreflect.FullName
	for name, r := range rules {
		if r.protocol == p {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
