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

// Outgoing is a tss-lib message of one session leaving this party.
type Outgoing struct {
	Session   events.Hash
	To        []events.PeerID // empty: every other party of the session
	Broadcast bool
	Payload   []byte // tss-lib wire bytes
}

// Incoming is a tss-lib message of one session from another party, its
// sender authenticated by the caller (the signed envelope).
type Incoming struct {
	Session   events.Hash
	From      events.PeerID
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

func newPartyIDs(parties []Party) (partyIDs, error) {
	ids := partyIDs{byPeer: map[events.PeerID]*tsslib.PartyID{}, byID: map[string]events.PeerID{}}
	var unsorted tsslib.UnSortedPartyIDs
	for _, p := range parties {
		if p.Key == nil || p.Key.Sign() <= 0 {
			return ids, fmt.Errorf("party %s has no tss key", p.Peer.Short())
		}
		if _, dup := ids.byPeer[p.Peer]; dup {
			return ids, fmt.Errorf("party %s twice", p.Peer.Short())
		}
		id := tsslib.NewPartyID(fmt.Sprintf("%x", []byte(p.Peer)), p.Peer.Short(), p.Key)
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
	errs := make(chan *tsslib.Error, 1)
	go func() {
		if err := party.Start(); err != nil {
			errs <- err
		}
	}()
	seen := map[[32]byte]bool{}
	feed := func(in Incoming) *tsslib.Error {
		from, ok := ids.byPeer[in.From]
		if in.Session != session || !ok || in.From == self {
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
		o := Outgoing{Session: session, Broadcast: routing.IsBroadcast, Payload: payload}
		if len(routing.To) > 0 {
			o.To = ids.peers(routing.To)
		}
		if err := send(o); err != nil {
			return fmt.Errorf("send tss message: %w", err)
		}
		return nil
	}
	failed := func(err *tsslib.Error) Result[T] {
		return Result[T]{Outcome: events.OutcomeFailed, Culprits: ids.peers(err.Culprits()), Err: err}
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
			return Result[T]{Outcome: events.OutcomeSuccess, Value: v}
		case err := <-errs:
			return failed(err)
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
			return Result[T]{Outcome: events.OutcomeTimeout, Culprits: ids.peers(party.WaitingFor()), Err: fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())}
		}
	}
}
