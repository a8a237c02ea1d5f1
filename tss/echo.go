package tss

import (
	"cmp"
	"crypto/sha512"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/metanode/metanode/events"
)

// tss-lib assumes a reliable broadcast: every party gets the same message
// from a sender in a broadcast round. Gossip gives no such thing, and
// tss-lib keeps whichever copy came last, so a party that shows different
// "broadcasts" to different parties would go unnoticed while the honest
// parties compute with different views. So, as THORChain's go-tss does
// with its hash check, a party holds each broadcast it receives, tells
// the other receivers its hash (an echo), and hands it to tss-lib only
// once every other receiver on its side echoed the same hash. A receiver
// whose hash differs is answered with the sender's own message, passed on
// (Outgoing.Forward: the caller re-sends the signed original), so every
// honest party ends up holding both versions: two different broadcasts of
// one type from one sender fail the session naming the sender, and the
// two signed messages are the evidence (PROTOCOL.md section 1).

// ErrEquivocatedBroadcast: a party sent two different broadcasts of one
// tss-lib round.
var ErrEquivocatedBroadcast = errors.New("two different broadcasts of one round")

// Echo names one broadcast a party received: its sender and side, its
// tss-lib message type, and H(payload).
type Echo struct {
	From     events.PeerID
	FromSide Side
	Type     string
	Hash     events.Hash
}

// MaxEchoEntries bounds the broadcasts one echo message names (a party
// echoes one per message) and MaxEchoTypeLen a tss-lib type name in it.
const (
	MaxEchoEntries = 16
	MaxEchoTypeLen = 128
)

// validEcho checks an echo's shape: no payload, and bounded.
func validEcho(in Incoming) bool {
	if len(in.Payload) > 0 || len(in.Echo) > MaxEchoEntries {
		return false
	}
	for _, e := range in.Echo {
		if len(e.Type) > MaxEchoTypeLen || e.FromSide > SideNew {
			return false
		}
	}
	return true
}

// maxEchoesPerParty bounds the echoes one party may leave in a session: a
// party echoes each broadcast of a session once, at most about 8 per
// other party (signing's broadcast rounds), so this fits committees of
// hundreds; an entry is some hundred bytes.
const maxEchoesPerParty = 4096

// BroadcastType is a tss-lib wire message's type (its protobuf type URL),
// which tells its round apart.
func BroadcastType(payload []byte) (string, error) {
	var wire anypb.Any
	if err := proto.Unmarshal(payload, &wire); err != nil {
		return "", fmt.Errorf("tss message type: %w", err)
	}
	if wire.TypeUrl == "" {
		return "", errors.New("tss message type: none")
	}
	return wire.TypeUrl, nil
}

// broadcastKey is one broadcast of a session: one per sender, side and
// tss-lib message type.
type broadcastKey struct {
	from     events.PeerID
	fromSide Side
	typ      string
}

// heldBroadcast is a broadcast this party received and holds until the
// other receivers agree on it.
type heldBroadcast struct {
	in        Incoming
	hash      events.Hash
	waiting   map[sidedPeer]bool // receivers whose matching echo is still due
	forwarded bool               // an echo disagreed; the original was passed on
	applied   bool               // handed to tss-lib
}

// broadcastCheck is a party's state of the check.
type broadcastCheck struct {
	held    map[broadcastKey]*heldBroadcast
	echoes  map[broadcastKey]map[sidedPeer]events.Hash
	echoed  map[sidedPeer]int // echo entries kept per party
	applied int
}

func newBroadcastCheck() broadcastCheck {
	return broadcastCheck{held: map[broadcastKey]*heldBroadcast{}, echoes: map[broadcastKey]map[sidedPeer]events.Hash{}, echoed: map[sidedPeer]int{}}
}

// receiveBroadcast holds a broadcast, echoes it, and applies it if the
// other receivers already agreed. A second different broadcast of the
// same key ends the session.
func (s *Session[T]) receiveBroadcast(in Incoming) []Outgoing {
	typ, err := BroadcastType(in.Payload)
	if err != nil {
		return nil // not a tss-lib message: nothing any party could use
	}
	k := broadcastKey{in.From, in.FromSide, typ}
	hash := events.Hash(sha512.Sum512_256(in.Payload))
	if held := s.check.held[k]; held != nil {
		if held.hash == hash {
			return nil
		}
		s.result = &Result[T]{Outcome: events.OutcomeFailed, Culprits: []events.PeerID{in.From},
			Err: fmt.Errorf("%w: %s sent two different %s", ErrEquivocatedBroadcast, in.From.Short(), shortType(typ))}
		// The version held here goes on too: a party that saw only the
		// other one may not have echoed to this one yet, and would wait for
		// an echo that never comes.
		return s.forward(held)
	}
	b := &heldBroadcast{in: in, hash: hash, waiting: map[sidedPeer]bool{}}
	for _, p := range s.router.receivers(in) {
		b.waiting[p] = true
	}
	s.check.held[k] = b
	out := []Outgoing{s.router.echo([]Echo{{From: in.From, FromSide: in.FromSide, Type: typ, Hash: hash}})}
	out[0].Session = s.id
	echoers := slices.SortedFunc(maps.Keys(s.check.echoes[k]), func(a, b sidedPeer) int {
		return cmp.Or(cmp.Compare(a.peer, b.peer), cmp.Compare(a.side, b.side))
	})
	for _, p := range echoers {
		out = append(out, s.match(b, p, s.check.echoes[k][p])...)
	}
	return append(out, s.applyIfAgreed(b)...)
}

// receiveEcho takes another party's echoes.
func (s *Session[T]) receiveEcho(in Incoming) []Outgoing {
	echoer, ok := s.router.echoer(in)
	if !ok {
		return nil
	}
	var out []Outgoing
	for _, e := range in.Echo {
		k := broadcastKey{e.From, e.FromSide, e.Type}
		got := s.check.echoes[k]
		if _, dup := got[echoer]; dup {
			continue // the first echo of a broadcast counts
		}
		if s.check.echoed[echoer] >= maxEchoesPerParty {
			continue
		}
		if got == nil {
			got = map[sidedPeer]events.Hash{}
			s.check.echoes[k] = got
		}
		got[echoer] = e.Hash
		s.check.echoed[echoer]++
		if b := s.check.held[k]; b != nil {
			out = append(out, s.match(b, echoer, e.Hash)...)
			out = append(out, s.applyIfAgreed(b)...)
			if s.result != nil {
				return out
			}
		}
	}
	return out
}

// match compares one echo with a held broadcast: agreement ticks the
// echoer off; disagreement passes the original on, once.
func (s *Session[T]) match(b *heldBroadcast, echoer sidedPeer, hash events.Hash) []Outgoing {
	if hash == b.hash {
		delete(b.waiting, echoer)
		return nil
	}
	return s.forward(b)
}

// forward passes a held broadcast's original on to every party, once.
func (s *Session[T]) forward(b *heldBroadcast) []Outgoing {
	if b.forwarded {
		return nil
	}
	b.forwarded = true
	in := b.in
	return []Outgoing{{Session: s.id, FromSide: in.FromSide, Broadcast: true, Forward: &in}}
}

// applyIfAgreed hands a held broadcast to tss-lib once every other
// receiver agreed on it.
func (s *Session[T]) applyIfAgreed(b *heldBroadcast) []Outgoing {
	if b.applied || len(b.waiting) > 0 || s.result != nil {
		return nil
	}
	b.applied = true
	s.check.applied++
	from, ok := s.router.sender(b.in)
	if !ok {
		return nil
	}
	return s.step(func() *tsslib.Error {
		_, err := s.party.UpdateFromBytes(b.in.Payload, from, true)
		return err
	})
}

// heldBack says whom a deadline should name for the broadcasts still
// held, given the parties tss-lib waits for (waiting). A broadcast held
// only for receivers that echoed another hash, or that sent nothing at
// all (tss-lib waits for them too), excuses its sender, who did its part,
// and names the disagreeing receivers. A broadcast held for a receiver
// that is otherwise active excuses nobody and names nobody: it came late,
// or was withheld from that receiver, and tss-lib's waiting names its
// sender.
func (s *Session[T]) heldBack(waiting []events.PeerID) (excused, liars []events.PeerID) {
	for k, b := range s.check.held {
		if b.applied {
			continue
		}
		var disagreed []events.PeerID
		explained := true
		for p := range b.waiting {
			hash, echoed := s.check.echoes[k][p]
			switch {
			case echoed && hash != b.hash:
				disagreed = append(disagreed, p.peer)
			case !slices.Contains(waiting, p.peer):
				explained = false
			}
		}
		if explained {
			excused = append(excused, b.in.From)
			liars = append(liars, disagreed...)
		}
	}
	return excused, liars
}

func shortType(typ string) string { return typ[strings.LastIndexByte(typ, '.')+1:] }
