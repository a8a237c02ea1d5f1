package projections

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// A tss-lib broadcast is one message per sender, side and tss-lib round
// of a session. A node that holds two different signed ones of one
// sender (the broadcast check passes a disagreed-on original on, so every
// party of the session ends up with both: tss/echo.go) has self-verifying
// evidence, as for any other equivocation (PROTOCOL.md section 1): the
// pair blocks the sender here and is gossiped, and every node that checks
// it blocks the sender too.

// tssBroadcastOf names the broadcast a tss message is (its session, side
// and tss-lib type), or false: not a broadcast of a tss-lib message (a
// point-to-point payload, a session key, an echo).
func tssBroadcastOf(m *events.Signed) (string, bool) {
	var msg events.TSSMessage
	if m.Type != events.TypeTSS || events.Unmarshal(m.Body, &msg) != nil || !msg.Broadcast || len(msg.Payload) == 0 || len(msg.Echo) > 0 || msg.SealKey != nil {
		return "", false
	}
	typ, err := tss.BroadcastType(msg.Payload)
	if err != nil {
		return "", false
	}
	return fmt.Sprintf("%x/%d/%s", msg.Session[:], msg.FromSide, typ), true
}

// firstBroadcast is the first broadcast of one sender for one key.
type firstBroadcast struct {
	seq uint64
	msg events.Signed
}

type broadcastOf struct {
	from events.PeerID
	id   string
}

// onTSSBroadcast checks a received tss message against the sender's first
// broadcast of the same key in a session this node runs (only they are
// kept: the node's own sessions are where the check passes versions on).
func (b *Blocks) onTSSBroadcast(seq uint64, m *events.Signed) {
	id, ok := tssBroadcastOf(m)
	if !ok {
		return
	}
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) != nil || !slices.Contains(b.running[msg.Session], m.From) {
		return // a session not running here, or not a participant of it
	}
	k := broadcastOf{m.From, id}
	first, seen := b.broadcasts[msg.Session][k]
	if !seen {
		if b.broadcasts[msg.Session] == nil {
			b.broadcasts[msg.Session] = map[broadcastOf]firstBroadcast{}
		}
		b.broadcasts[msg.Session][k] = firstBroadcast{seq: seq, msg: *m}
		return
	}
	if bytes.Equal(first.msg.Body, m.Body) {
		return
	}
	round, err := CheckEquivocation(b.params, b.now, &first.msg, m)
	if err != nil {
		return // outside the evidence window, or labelled apart: the session check still names it
	}
	b.Equivocated(first.seq, seq, &first.msg, m, round, "two different tss broadcasts of one round")
}

// onTSSSession follows which tss sessions run here, and their
// participants (nil: it ended).
func (b *Blocks) onTSSSession(session events.Hash, participants []events.PeerID) {
	if participants != nil {
		if b.running == nil {
			b.running, b.broadcasts = map[events.Hash][]events.PeerID{}, map[events.Hash]map[broadcastOf]firstBroadcast{}
		}
		b.running[session] = participants
		return
	}
	delete(b.running, session)
	delete(b.broadcasts, session)
}
