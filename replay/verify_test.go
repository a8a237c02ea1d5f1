package replay_test

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/replay"
)

// nodeLog writes a node-like log: genesis, then per second a tick and, at
// pings' due times, the ping the node sent. edit may change the events.
func nodeLog(t *testing.T, edit func([]events.Event) []events.Event) string {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(nil)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	params := events.DefaultParams(4, 2)
	params.Network, params.NodeID = "verify", events.PeerID(id)
	evs := []events.Event{&events.Genesis{Params: params}}
	var seq uint64
	for s := range 10 {
		now := eventstest.Epoch.Add(time.Duration(s) * time.Second)
		evs = append(evs, &events.Tick{Time: now})
		if s%3 == 0 {
			seq++
			body, _ := events.Marshal(nil, &events.Ping{PeerID: params.NodeID, Seq: seq, Time: now})
			m, err := net.Sign(key, events.TypePing, body)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, &events.MessageSent{Msg: m})
		}
	}
	return writeLog(t, edit(evs))
}

func verify(t *testing.T, dir string) error {
	t.Helper()
	s, err := events.Open(dir, events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = replay.VerifyDuties(s, replay.Until{})
	return err
}

func TestVerifyDuties(t *testing.T) {
	tests := []struct {
		name    string
		edit    func([]events.Event) []events.Event
		wantSeq uint64 // 0: verifies
	}{
		{"as the node wrote it", func(e []events.Event) []events.Event { return e }, 0},
		{"a ping sent though none was due", func(e []events.Event) []events.Event {
			// Send the 4th-second ping a second early: seq 5 is the tick of second 1.
			extra := e[2] // the first ping, sent again
			return append(e[:4:4], append([]events.Event{extra}, e[4:]...)...)
		}, 5},
		{"a due ping left out", func(e []events.Event) []events.Event {
			// Drop the ping after the tick of second 3 (seq 6 and 7).
			return append(e[:6:6], e[7:]...)
		}, 7},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(t, nodeLog(t, tc.edit))
			if tc.wantSeq == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var d *replay.Divergence
			if !errors.As(err, &d) || d.Seq != tc.wantSeq {
				t.Fatalf("err = %v, want a divergence at seq %d", err, tc.wantSeq)
			}
		})
	}
}
