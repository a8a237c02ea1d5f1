package events_test

import (
	"reflect"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

func TestDecodePingMatchesGeneralDecoder(t *testing.T) {
	pings := []events.Ping{
		{},
		{PeerID: eventstest.Peer(1), Seq: 1, Time: eventstest.Epoch, State: events.StateSigning,
			StakeTx: "tx", TSSProof: []byte{1, 2, 3}, KeyID: eventstest.Hash("k")},
		{PeerID: eventstest.Peer(2), Seq: 1 << 40, Time: 1, TSSProof: eventstest.Bytes("big", 70000)},
		{Time: -5}, // negative: not canonical-fast, must still decode
		{PeerID: eventstest.Peer(3), Seq: 7, Time: eventstest.Epoch, KeyID: eventstest.Hash("k"), Genesis: eventstest.Hash("genesis")},
	}
	for i, want := range pings {
		body, err := events.Marshal(nil, &want)
		if err != nil {
			t.Fatal(err)
		}
		var got events.Ping
		if err := events.DecodePing(body, &got); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		if len(want.TSSProof) == 0 {
			want.TSSProof = got.TSSProof // nil and empty are the same proof
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ping %d decoded as %+v, want %+v", i, got, want)
		}
	}
}

// FuzzDecodePing is differential: the direct decoder and msgpack's
// general one agree on every input.
func FuzzDecodePing(f *testing.F) {
	f.Add(eventstest.PingBody(1, 1))
	f.Add(eventstest.PingBody(2, 1<<33))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, general events.Ping
		fastErr := events.DecodePing(body, &fast)
		generalErr := events.Unmarshal(body, &general)
		if (fastErr == nil) != (generalErr == nil) {
			t.Fatalf("DecodePing err %v, general decoder err %v", fastErr, generalErr)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, general) {
			if len(fast.TSSProof) == 0 && len(general.TSSProof) == 0 {
				fast.TSSProof, general.TSSProof = nil, nil
			}
			if !reflect.DeepEqual(fast, general) {
				t.Fatalf("decoders disagree:\n fast    %+v\n general %+v", fast, general)
			}
		}
	})
}
