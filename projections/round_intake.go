package projections

import "github.com/metanode/metanode/events"

// Clocks differ (PROTOCOL.md section 3): a node whose clock runs ahead
// opens round r+1 and sends its proposal while this node is still in
// round r. Such a message is kept and counted when this node's own tick
// opens r+1; its sender's retransmissions are exact repeats, dropped
// before the log, so a message not kept here would be lost for good.
// Messages for any other round are kept in the log only.

// EarlyMessage is a round message for the next round, received before
// this node's clock opened it.
type EarlyMessage struct {
	Seq uint64        `msgpack:"q"`
	Msg events.Signed `msgpack:"m"`
}

// maxEarlyPerSender bounds what one sender can park for the next round:
// a proposal, a signing set and a checksum, and a second of each to
// prove equivocation.
const maxEarlyPerSender = 6

// messageRound returns the round a proposal, signing set or checksum is
// for.
func messageRound(m *events.Signed) (int64, bool) {
	var body struct {
		Round int64 `msgpack:"r"`
	}
	if events.Unmarshal(m.Body, &body) != nil {
		return 0, false
	}
	return body.Round, true
}

// receive routes a round message: counted now when it is for the current
// round, kept when it is for the next.
func (r *Rounds) receive(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	round, ok := messageRound(m)
	switch {
	case !ok:
	case round == r.cur.Number:
		r.count(seq, m)
	case round == r.cur.Number+1:
		r.keepEarly(seq, m)
	case round == r.cur.Number-1 && m.Type == events.TypeChecksum:
		r.lateChecksum(seq, m)
	}
}

func (r *Rounds) count(seq uint64, m *events.Signed) {
	switch m.Type {
	case events.TypeProposal:
		r.onProposal(seq, m)
	case events.TypeSigningSet:
		r.onSigningSet(seq, m)
	case events.TypeChecksum:
		r.onChecksum(seq, m)
	}
}

func (r *Rounds) keepEarly(seq uint64, m *events.Signed) {
	held := 0
	for _, e := range r.early {
		if e.Msg.From == m.From {
			held++
		}
	}
	if held >= maxEarlyPerSender {
		return
	}
	r.early = append(r.early, EarlyMessage{Seq: seq, Msg: *m})
}

// countEarly counts, in arrival order, the messages kept for the round
// just opened, and forgets the rest.
func (r *Rounds) countEarly() {
	early := r.early
	r.early = nil
	for i := range early {
		if round, ok := messageRound(&early[i].Msg); ok && round == r.cur.Number {
			r.count(early[i].Seq, &early[i].Msg)
		}
	}
}
