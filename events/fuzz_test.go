package events_test

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

// Fuzz targets: whatever bytes arrive (a damaged file, a newer version, a
// hostile peer), decoding never panics, and whatever decodes re-encodes to
// a value that decodes the same.

func FuzzParseRecord(f *testing.F) {
	for i, ev := range eventstest.Samples() {
		body, _ := events.EncodeEvent(nil, ev)
		f.Add(events.AppendRecord(nil, uint64(i+1), ev.Kind(), body))
	}
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, ev, err := events.DecodeRecord(data)
		if err != nil {
			return
		}
		if ev.Kind() != rec.Kind {
			t.Fatalf("record of kind %s decoded as %s", rec.Kind, ev.Kind())
		}
		checkStable(t, ev)
	})
}

func FuzzDecodeEvent(f *testing.F) {
	for _, ev := range eventstest.Samples() {
		body, _ := events.EncodeEvent(nil, ev)
		f.Add(uint16(ev.Kind()), body)
	}
	f.Add(uint16(999), []byte{0x80})
	f.Fuzz(func(t *testing.T, kind uint16, body []byte) {
		ev, err := events.DecodeEvent(events.Kind(kind), body)
		if events.Kind(kind) == events.KindPingReceived {
			// Differential: the direct decoder agrees with msgpack's.
			var general events.PingReceived
			generalErr := events.Unmarshal(body, &general)
			if (err == nil) != (generalErr == nil) {
				t.Fatalf("DecodeEvent err %v, general decoder err %v", err, generalErr)
			}
			if err == nil && !sameSigned(ev.(*events.PingReceived).Msg, general.Msg) {
				t.Fatalf("decoders disagree:\n fast    %+v\n general %+v", ev, general)
			}
		}
		if err != nil {
			return
		}
		checkStable(t, ev)
	})
}

// FuzzMessageBodies covers the decoders of protocol message bodies, which
// arrive from the network.
func FuzzMessageBodies(f *testing.F) {
	for _, ev := range eventstest.Samples() {
		if msg, ok := events.SignedOf(ev); ok {
			f.Add(msg.Type, msg.Body)
		}
	}
	f.Fuzz(func(t *testing.T, typ string, body []byte) {
		var v any
		switch typ {
		case events.TypePing:
			v = &events.Ping{}
		case events.TypeProposal:
			v = &events.Proposal{}
		case events.TypeSigningSet:
			v = &events.SigningSet{}
		case events.TypeChecksum:
			v = &events.Checksum{}
		case events.TypeKeygenCommit:
			v = &events.KeygenCommit{}
		case events.TypeKVEntry:
			v = &events.KVEntry{}
		case events.TypeTSS:
			v = &events.TSSMessage{}
		case events.TypeEvidence:
			v = &events.Evidence{}
		default:
			return
		}
		if err := events.Unmarshal(body, v); err != nil {
			return
		}
		again, err := events.Marshal(nil, v)
		if err != nil {
			t.Fatalf("decoded %T does not re-encode: %v", v, err)
		}
		w := reflect.New(reflect.TypeOf(v).Elem()).Interface()
		if err := events.Unmarshal(again, w); err != nil || !reflect.DeepEqual(v, w) {
			t.Fatalf("%T is not stable through re-encoding: %v", v, err)
		}
	})
}

func checkStable(t *testing.T, ev events.Event) {
	t.Helper()
	body, err := events.EncodeEvent(nil, ev)
	if err != nil {
		t.Fatalf("decoded %s does not re-encode: %v", ev.Kind(), err)
	}
	again, err := events.DecodeEvent(ev.Kind(), body)
	if err != nil {
		t.Fatalf("re-encoded %s does not decode: %v", ev.Kind(), err)
	}
	if !reflect.DeepEqual(ev, again) {
		t.Fatalf("%s is not stable through re-encoding", ev.Kind())
	}
}

// sameSigned compares envelopes, taking nil and empty bytes as equal.
func sameSigned(a, b events.Signed) bool {
	return a.Type == b.Type && a.From == b.From && bytes.Equal(a.Body, b.Body) && bytes.Equal(a.Sig, b.Sig)
}
