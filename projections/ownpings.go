package projections

import (
	"fmt"
	"time"

	"github.com/metanode/metanode/events"
)

// OwnPings follows this node's clock and the pings it has sent, and says
// when the next ping is due: the first duty of the node.
type OwnPings struct {
	self     events.PeerID
	interval time.Duration
	genesis  events.Hash
	now      events.Time
	lastSeq  uint64
	lastAt   events.Time
}

// Apply implements Projection.
func (o *OwnPings) Apply(_ uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		o.self, o.interval, o.genesis = e.Params.NodeID, e.Params.PingInterval, e.Params.Genesis
	case *events.Tick:
		o.now = e.Time
	case *events.MessageSent:
		if e.Msg.Type != events.TypePing {
			return
		}
		var ping events.Ping
		if events.DecodePing(e.Msg.Body, &ping) == nil {
			o.lastSeq, o.lastAt = ping.Seq, ping.Time
		}
	}
}

// PingDue returns the ping to send now, if one is due: the clock has
// ticked and a ping interval has passed since the last ping sent.
// Seqs continue from the log, so they keep increasing across restarts.
func (o *OwnPings) PingDue() (events.Ping, bool) {
	if o.now == 0 || o.interval <= 0 || (o.lastAt != 0 && o.now.Sub(o.lastAt) < o.interval) {
		return events.Ping{}, false
	}
	return events.Ping{PeerID: o.self, Seq: o.lastSeq + 1, Time: o.now, State: events.StateIdle, Genesis: o.genesis}, true
}

// LastSeq is the seq of the last ping sent.
func (o *OwnPings) LastSeq() uint64 { return o.lastSeq }

type ownPingsState struct {
	Now     events.Time `msgpack:"t"`
	LastSeq uint64      `msgpack:"q"`
	LastAt  events.Time `msgpack:"a"`
}

// AppendState implements Projection.
func (o *OwnPings) AppendState(dst []byte) []byte {
	out, err := events.Marshal(dst, &ownPingsState{Now: o.now, LastSeq: o.lastSeq, LastAt: o.lastAt})
	if err != nil {
		panic(fmt.Sprintf("encode own pings state: %v", err))
	}
	return out
}
