package tss

import (
	"context"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"slices"

	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
)

// Side says which committee of a resharing a party is on. Keygen and
// signing have one committee: SideOnly.
type Side uint8

// Sides.
const (
	SideOnly Side = iota
	SideOld
	SideNew
)

// Outgoing is a tss-lib message of one session leaving this party.
type Outgoing struct {
	Session   events.Hash
	FromSide  Side
	To        []events.PeerID // empty: every other party of the target sides
	ToOld     bool            // resharing: for the old committee
	ToNew     bool            // resharing: for the new committee
	Broadcast bool
	Payload   []byte // tss-lib wire bytes
	// Echo: the broadcast check's echo (no payload; echo.go).
	Echo []Echo
	// Forward: another party's broadcast to pass on to every party (an
	// echo disagreed with it): the caller re-sends that party's own signed
	// message, never one of its own making.
	Forward *Incoming
}

// Incoming is a tss-lib message of one session from another party, its
// sender authenticated by the caller (the signed envelope).
type Incoming struct {
	Session   events.Hash
	From      events.PeerID
	FromSide  Side
	ToSide    Side // the side this copy is for
	Broadcast bool
	Payload   []byte
	Echo      []Echo // the broadcast check's echo (no payload)
}

// Party is one participant of a session: its peer id and its tss-lib key
// (for keygen derived from the peer id, afterwards the share id its key
// data holds).
type Party struct {
	Peer events.PeerID
	Key  *big.Int
}

// PartyKey is the tss-lib party key a peer has in the key that session
// makes (keygen, or a resharing's new side): bound to the session,
// because tss-lib tells a resharing's old and new parties apart by key,
// so a peer on both sides must have two. Published keys carry each
// member's (SharePoint.ShareID); nobody derives it afterwards.
func PartyKey(peer events.PeerID, session events.Hash) *big.Int {
	h := sha512.New512_256()
	h.Write([]byte("metanode/v1/party"))
	h.Write(session[:])
	h.Write([]byte(peer))
	return new(big.Int).SetBytes(h.Sum(nil))
}

// Result is how a session ended for this party.
type Result[T any] struct {
	Outcome  events.Outcome
	Value    T               // the signature or the new key data, on success
	Culprits []events.PeerID // sorted
	Err      error
}

// partyIDs maps a session's parties between peer ids and tss-lib ids.
type partyIDs struct {
	sorted tsslib.SortedPartyIDs
	byPeer map[events.PeerID]*tsslib.PartyID
	byID   map[string]events.PeerID
}

func newPartyIDs(parties []Party) (partyIDs, error) { return newSidePartyIDs(parties, "") }

// newSidePartyIDs names the parties of one side; suffix keeps a peer that
// is on both sides of a resharing two distinct tss-lib parties.
func newSidePartyIDs(parties []Party, suffix string) (partyIDs, error) {
	ids := partyIDs{byPeer: map[events.PeerID]*tsslib.PartyID{}, byID: map[string]events.PeerID{}}
	var unsorted tsslib.UnSortedPartyIDs
	for _, p := range parties {
		if p.Key == nil || p.Key.Sign() <= 0 {
			return ids, fmt.Errorf("party %s has no tss key", p.Peer.Short())
		}
		if _, dup := ids.byPeer[p.Peer]; dup {
			return ids, fmt.Errorf("party %s twice", p.Peer.Short())
		}
		id := tsslib.NewPartyID(fmt.Sprintf("%x%s", []byte(p.Peer), suffix), p.Peer.Short()+suffix, p.Key)
		ids.byPeer[p.Peer] = id
		ids.byID[id.Id] = p.Peer
		unsorted = append(unsorted, id)
	}
	ids.sorted = tsslib.SortPartyIDs(unsorted)
	return ids, nil
}

// peers maps tss-lib ids to peer ids: sorted, each once.
func (ids partyIDs) peers(list []*tsslib.PartyID) []events.PeerID {
	var out []events.PeerID
	for _, id := range list {
		if id == nil {
			continue
		}
		if p, ok := ids.byID[id.Id]; ok {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrTimeout: the session's deadline passed.
var ErrTimeout = errors.New("tss session timed out")

// Session is one local party of one tss session, driven step by step
// like etcd's raft: Start it, Deliver what arrives, Expire it at its
// deadline; each step returns the messages the party sends. tss-lib
// handles a message synchronously, so after a step the party's output
// is complete and the session's state depends only on the steps taken:
// a node can run it under its own clock and a simulation can run many
// reproducibly. It drops messages of other sessions, from non-parties,
// and repeats (same sender and bytes). A tss-lib panic (a malformed
// input) ends it as failed, never the caller. Not safe for concurrent
// use.
type Session[T any] struct {
	id     events.Hash
	party  tsslib.Party
	out    chan tsslib.Message
	end    chan T
	router router
	seen   map[[32]byte]bool
	check  broadcastCheck
	result *Result[T]
}

func newSession[T any](id events.Hash, party tsslib.Party, out chan tsslib.Message, end chan T, r router) *Session[T] {
	return &Session[T]{id: id, party: party, out: out, end: end, router: r, seen: map[[32]byte]bool{}, check: newBroadcastCheck()}
}

// FailedSession is a session that could not be set up (no key data, no
// pre-parameters): it is over, failed with err, before it starts.
func FailedSession[T any](id events.Hash, err error) *Session[T] {
	return &Session[T]{id: id, result: &Result[T]{Outcome: events.OutcomeFailed, Err: err}}
}

// ID is the session nonce.
func (s *Session[T]) ID() events.Hash { return s.id }

// Result is the session's outcome, once it has one.
func (s *Session[T]) Result() (Result[T], bool) {
	if s.result == nil {
		return Result[T]{}, false
	}
	return *s.result, true
}

// Start starts the party and returns its first messages. Messages that
// arrived earlier wait for Deliver: tss-lib stores a message that comes
// before round 1 exists but only advances on a later one.
func (s *Session[T]) Start() []Outgoing {
	if s.result != nil {
		return nil
	}
	return s.step(func() *tsslib.Error { return s.party.Start() })
}

// Deliver feeds one message, its sender authenticated by the caller, and
// returns what the party sends in answer.
func (s *Session[T]) Deliver(in Incoming) []Outgoing {
	if !s.admit(in) {
		return nil // malformed: never reaches tss-lib (validate.go)
	}
	if s.result != nil || in.Session != s.id {
		return nil
	}
	if len(in.Echo) > 0 {
		return s.receiveEcho(in)
	}
	from, ok := s.router.sender(in)
	if !ok {
		return nil
	}
	key := sha512.Sum512_256(append([]byte(in.From), in.Payload...))
	if s.seen[key] {
		return nil // a replay or a gossip duplicate
	}
	s.seen[key] = true
	if in.Broadcast {
		return s.receiveBroadcast(in)
	}
	return s.step(func() *tsslib.Error {
		_, err := s.party.UpdateFromBytes(in.Payload, from, in.Broadcast)
		return err
	})
}

// Expire ends a session still running at its deadline: a timeout whose
// culprits are the parties tss-lib still waits for. Deliver everything
// already received first, so a slow machine does not turn an honest
// party into a culprit.
func (s *Session[T]) Expire() {
	if s.result != nil {
		return
	}
	// tss-lib counts a party's own message of a round only once it has
	// applied another's: with every broadcast of the round held for
	// echoes, it lists the party itself, who is no culprit.
	own := s.router.own()
	waiting := slices.DeleteFunc(s.router.culprits(s.party.WaitingFor()), func(p events.PeerID) bool { return p == own })
	excused, liars := s.heldBack(waiting)
	culprits := slices.DeleteFunc(waiting, func(p events.PeerID) bool { return slices.Contains(excused, p) })
	culprits = slices.Compact(slices.Sorted(slices.Values(append(culprits, liars...))))
	s.result = &Result[T]{Outcome: events.OutcomeTimeout, Culprits: culprits,
		Err: fmt.Errorf("%w waiting for %d parties", ErrTimeout, len(culprits))}
}

// step runs one tss-lib call and collects what it emitted and whether it
// finished the party.
func (s *Session[T]) step(call func() *tsslib.Error) (sent []Outgoing) {
	defer func() {
		if p := recover(); p != nil {
			sent, s.result = nil, &Result[T]{Outcome: events.OutcomeFailed, Err: fmt.Errorf("tss-lib panicked: %v", p)}
		}
	}()
	err := call()
	// The call that finishes a party may also have emitted its last
	// round's messages, which the others still need: collect them all.
	for pending := true; pending; {
		select {
		case msg := <-s.out:
			payload, routing, werr := msg.WireBytes()
			if werr != nil {
				s.result = &Result[T]{Outcome: events.OutcomeFailed, Err: fmt.Errorf("encode tss message: %w", werr)}
				return nil
			}
			o := s.router.outgoing(routing)
			o.Session, o.Payload = s.id, payload
			sent = append(sent, o)
		default:
			pending = false
		}
	}
	if err != nil {
		s.result = &Result[T]{Outcome: events.OutcomeFailed, Culprits: s.router.culprits(err.Culprits()), Err: err}
		return sent
	}
	select {
	case v := <-s.end:
		s.result = &Result[T]{Outcome: events.OutcomeSuccess, Value: v}
	default:
	}
	return sent
}

// Run drives a session with its messages from inbox and its output to
// send, until it ends or ctx ends (then a timeout, after feeding every
// message already queued): the goroutine form for tests, benchmarks and
// tools.
func Run[T any](ctx context.Context, s *Session[T], inbox <-chan Incoming, send func(Outgoing) error) Result[T] {
	sendAll := func(out []Outgoing) bool {
		for _, o := range out {
			if err := send(o); err != nil {
				s.result = &Result[T]{Outcome: events.OutcomeFailed, Err: fmt.Errorf("send tss message: %w", err)}
				return false
			}
		}
		return true
	}
	sendAll(s.Start())
	for s.result == nil {
		select {
		case in := <-inbox:
			sendAll(s.Deliver(in))
		case <-ctx.Done():
			for drained := false; !drained && s.result == nil; {
				select {
				case in := <-inbox:
					sendAll(s.Deliver(in))
				default:
					drained = true
				}
			}
			s.Expire()
		}
	}
	return *s.result
}

// router maps one session's tss-lib parties to peers and sides.
type router interface {
	// outgoing addresses a message.
	outgoing(routing *tsslib.MessageRouting) Outgoing
	// sender resolves an incoming message's sender, or false to drop it.
	sender(in Incoming) (*tsslib.PartyID, bool)
	// culprits names tss-lib parties as peers, sorted, each once.
	culprits(list []*tsslib.PartyID) []events.PeerID
	// receivers are the other parties that get the same copy of a
	// broadcast as this one: the echoes due before it applies.
	receivers(in Incoming) []sidedPeer
	// echoer resolves an echo's sender, or false to drop it.
	echoer(in Incoming) (sidedPeer, bool)
	// echo addresses this party's echo to every party that may hold the
	// same broadcast.
	echo(echoes []Echo) Outgoing
	// own is this party's peer.
	own() events.PeerID
}

func (r singleRouter) own() events.PeerID { return r.self }

// singleRouter serves keygen and signing: one committee.
type singleRouter struct {
	ids  partyIDs
	self events.PeerID
}

func (r singleRouter) outgoing(routing *tsslib.MessageRouting) Outgoing {
	o := Outgoing{Broadcast: routing.IsBroadcast}
	if len(routing.To) > 0 {
		o.To = r.ids.peers(routing.To)
	}
	return o
}

func (r singleRouter) sender(in Incoming) (*tsslib.PartyID, bool) {
	from, ok := r.ids.byPeer[in.From]
	return from, ok && in.From != r.self && in.FromSide == SideOnly && in.ToSide == SideOnly
}

func (r singleRouter) culprits(list []*tsslib.PartyID) []events.PeerID { return r.ids.peers(list) }

func (r singleRouter) receivers(in Incoming) []sidedPeer {
	var out []sidedPeer
	for _, id := range r.ids.sorted {
		if p := r.ids.byID[id.Id]; p != r.self && p != in.From {
			out = append(out, sidedPeer{p, SideOnly})
		}
	}
	return out
}

func (r singleRouter) echoer(in Incoming) (sidedPeer, bool) {
	_, ok := r.ids.byPeer[in.From]
	return sidedPeer{in.From, SideOnly}, ok && in.From != r.self && in.FromSide == SideOnly && in.ToSide == SideOnly
}

func (r singleRouter) echo(echoes []Echo) Outgoing { return Outgoing{Broadcast: true, Echo: echoes} }
