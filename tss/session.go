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
}

// Party is one participant of a session: its peer id and its tss-lib key
// (for keygen derived from the peer id, afterwards the share id its key
// data holds).
type Party struct {
	Peer events.PeerID
	Key  *big.Int
}

// PartyKey is the tss-lib party key metanode gives a peer at keygen.
func PartyKey(peer events.PeerID) *big.Int {
	sum := sha512.Sum512_256([]byte(peer))
	return new(big.Int).SetBytes(sum[:])
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

// runParty drives one local tss-lib party: it starts it, routes its
// outgoing messages to send, feeds it incoming ones from inbox (dropping
// other sessions', outsiders' and repeated ones), and ends on its result,
// its first error (culprits from tss-lib) or ctx's end (culprits from
// WaitingFor, after every message already queued has been fed, so a slow
// machine does not turn an honest party into a culprit).
func runParty[T any](ctx context.Context, session events.Hash, self events.PeerID, ids partyIDs, party tsslib.Party,
	out <-chan tsslib.Message, end <-chan T, inbox <-chan Incoming, send func(Outgoing) error) Result[T] {
	return runRouted(ctx, session, party, out, end, inbox, send, singleRouter{ids: ids, self: self})
}

// router maps one session's tss-lib parties to peers and sides.
type router interface {
	// outgoing addresses a message.
	outgoing(routing *tsslib.MessageRouting) Outgoing
	// sender resolves an incoming message's sender, or false to drop it.
	sender(in Incoming) (*tsslib.PartyID, bool)
	// culprits names tss-lib parties as peers, sorted, each once.
	culprits(list []*tsslib.PartyID) []events.PeerID
}

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

func runRouted[T any](ctx context.Context, session events.Hash, party tsslib.Party,
	out <-chan tsslib.Message, end <-chan T, inbox <-chan Incoming, send func(Outgoing) error, r router) (res Result[T]) {
	// tss-lib panics on some malformed inputs (a point off the curve);
	// Start and every update run in this goroutine, so a panic ends this
	// session as failed instead of the node.
	defer func() {
		if p := recover(); p != nil {
			res = Result[T]{Outcome: events.OutcomeFailed, Err: fmt.Errorf("tss-lib panicked: %v", p)}
		}
	}()
	// Start first, then feed: tss-lib stores a message that arrives before
	// round 1 exists but only advances rounds when a later message comes,
	// so a party whose peers' round-1 messages all arrived during its own
	// Start would wait forever. Meanwhile they wait in inbox.
	if err := party.Start(); err != nil {
		return Result[T]{Outcome: events.OutcomeFailed, Culprits: r.culprits(err.Culprits()), Err: err}
	}
	seen := map[[32]byte]bool{}
	feed := func(in Incoming) *tsslib.Error {
		from, ok := r.sender(in)
		if in.Session != session || !ok {
			return nil
		}
		key := sha512.Sum512_256(append([]byte(in.From), in.Payload...))
		if seen[key] {
			return nil // a replay or a gossip duplicate
		}
		seen[key] = true
		_, err := party.UpdateFromBytes(in.Payload, from, in.Broadcast)
		return err
	}
	forward := func(msg tsslib.Message) error {
		payload, routing, err := msg.WireBytes()
		if err != nil {
			return fmt.Errorf("encode tss message: %w", err)
		}
		o := r.outgoing(routing)
		o.Session, o.Payload = session, payload
		if err := send(o); err != nil {
			return fmt.Errorf("send tss message: %w", err)
		}
		return nil
	}
	failed := func(err *tsslib.Error) Result[T] {
		return Result[T]{Outcome: events.OutcomeFailed, Culprits: r.culprits(err.Culprits()), Err: err}
	}
	// out is buffered for many rounds: an update, which may emit a round's
	// messages, never blocks this loop.
	for {
		select {
		case msg := <-out:
			if err := forward(msg); err != nil {
				return Result[T]{Outcome: events.OutcomeFailed, Err: err}
			}
		case in := <-inbox:
			if err := feed(in); err != nil {
				return failed(err)
			}
		case v := <-end:
			// The update that finished this party may also have emitted its
			// last round's message, which the others still need: select
			// picks among ready cases at random, so forward what is left.
			for pending := true; pending; {
				select {
				case msg := <-out:
					if err := forward(msg); err != nil {
						return Result[T]{Outcome: events.OutcomeFailed, Err: err}
					}
				default:
					pending = false
				}
			}
			return Result[T]{Outcome: events.OutcomeSuccess, Value: v}
		case <-ctx.Done():
			for drained := false; !drained; {
				select {
				case in := <-inbox:
					if err := feed(in); err != nil {
						return failed(err)
					}
				case v := <-end:
					return Result[T]{Outcome: events.OutcomeSuccess, Value: v}
				default:
					drained = true
				}
			}
			return Result[T]{Outcome: events.OutcomeTimeout, Culprits: r.culprits(party.WaitingFor()), Err: fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())}
		}
	}
}
