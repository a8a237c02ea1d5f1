package tss

import (
	"crypto/sha512"

	"github.com/metanode/metanode/events"
)

// agreeingEchoes are the echoes every other receiver of a broadcast would
// send if it had received the same bytes: tests and fuzzers use them to
// get a broadcast of their making through the check.
func (s *Session[T]) agreeingEchoes(in Incoming) []Incoming {
	if !in.Broadcast || len(in.Payload) == 0 || s.router == nil {
		return nil
	}
	typ, err := BroadcastType(in.Payload)
	if err != nil {
		return nil
	}
	echo := []Echo{{From: in.From, FromSide: in.FromSide, Type: typ, Hash: events.Hash(sha512.Sum512_256(in.Payload))}}
	var out []Incoming
	for _, p := range s.router.receivers(in) {
		out = append(out, Incoming{Session: in.Session, From: p.peer, FromSide: p.side, ToSide: in.ToSide, Broadcast: true, Echo: echo})
	}
	return out
}
