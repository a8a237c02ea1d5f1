package events_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

func TestSamplesCoverEveryKind(t *testing.T) {
	samples := eventstest.Samples()
	kinds := events.Kinds()
	if len(samples) != len(kinds) {
		t.Fatalf("%d samples for %d kinds", len(samples), len(kinds))
	}
	for i, ev := range samples {
		if ev.Kind() != kinds[i] {
			t.Errorf("sample %d is %s, want %s", i, ev.Kind(), kinds[i])
		}
	}
}

func TestEventRoundTrip(t *testing.T) {
	for _, ev := range eventstest.Samples() {
		t.Run(ev.Kind().String(), func(t *testing.T) {
			body, err := events.EncodeEvent(nil, ev)
			if err != nil {
				t.Fatal(err)
			}
			got, err := events.DecodeEvent(ev.Kind(), body)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, ev) {
				t.Fatalf("round trip changed the event:\n got %+v\nwant %+v", got, ev)
			}
			again, err := events.EncodeEvent(nil, got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, body) {
				t.Fatalf("re-encoding gave other bytes:\n%x\n%x", again, body)
			}
		})
	}
}

// TestGoldenBytes pins the encoding of every kind: a change here breaks
// every log already written, so it must be deliberate (go test -update).
func TestGoldenBytes(t *testing.T) {
	var b strings.Builder
	for _, ev := range eventstest.Samples() {
		body, err := events.EncodeEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		rec := events.AppendRecord(nil, uint64(ev.Kind()), ev.Kind(), body)
		fmt.Fprintf(&b, "%s %s\n", ev.Kind(), hex.EncodeToString(rec))
	}
	path := filepath.Join("testdata", "golden-records.txt")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./events -update to create it)", err)
	}
	gotLines, wantLines := strings.Split(b.String(), "\n"), strings.Split(string(want), "\n")
	if len(gotLines) != len(wantLines) {
		t.Fatalf("%d golden lines, encoding gives %d", len(wantLines), len(gotLines))
	}
	for i := range gotLines {
		if gotLines[i] != wantLines[i] {
			t.Errorf("encoding changed:\n got %s\nwant %s", gotLines[i], wantLines[i])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	ping, _ := events.EncodeEvent(nil, eventstest.PingReceived(1, 1))
	tests := []struct {
		name string
		kind events.Kind
		body []byte
		want error
	}{
		{"unknown kind from a newer version", events.Kind(999), ping, events.ErrUnknownKind},
		{"invalid kind", events.KindInvalid, ping, events.ErrUnknownKind},
		{"trailing bytes", events.KindPingReceived, append(append([]byte{}, ping...), 0xc0), nil},
		{"truncated body", events.KindPingReceived, ping[:len(ping)/2], nil},
		{"wrong type", events.KindTick, []byte{0xa3, 'a', 'b', 'c'}, nil},
		{"empty body", events.KindTick, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := events.DecodeEvent(tc.kind, tc.body)
			if err == nil {
				t.Fatal("decoded without error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %q does not wrap %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
		})
	}
}

func TestRecordChecks(t *testing.T) {
	body, _ := events.EncodeEvent(nil, &events.Tick{Time: eventstest.Epoch})
	rec := events.AppendRecord(nil, 7, events.KindTick, body)

	got, ev, err := events.DecodeRecord(rec)
	if err != nil || got.Seq != 7 || ev.(*events.Tick).Time != eventstest.Epoch {
		t.Fatalf("DecodeRecord = %+v %+v %v", got, ev, err)
	}
	for i := range rec {
		for _, bit := range []byte{0x01, 0x80} {
			flipped := bytes.Clone(rec)
			flipped[i] ^= bit
			if _, err := events.ParseRecord(flipped); err == nil {
				t.Errorf("flipping bit %#x of byte %d went unnoticed", bit, i)
			}
		}
	}
	for n := 0; n < len(rec); n++ {
		if _, err := events.ParseRecord(rec[:n]); !errors.Is(err, events.ErrCorrupt) {
			t.Errorf("record cut to %d bytes: err = %v, want ErrCorrupt", n, err)
		}
	}
	unknown := events.AppendRecord(nil, 7, events.Kind(999), body)
	if _, err := events.ParseRecord(unknown); !errors.Is(err, events.ErrUnknownKind) {
		t.Errorf("unknown kind: err = %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	good := events.DefaultParams(5, 2)
	if err := good.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	tests := []struct {
		name   string
		change func(*events.Params)
		want   string
	}{
		{"threshold equals n", func(p *events.Params) { p.Threshold = 5 }, "threshold"},
		{"tiny committee", func(p *events.Params) { p.CommitteeSize = 1; p.Threshold = 0 }, "committee size"},
		{"expiry below ping interval", func(p *events.Params) { p.PeerExpiry = p.PingInterval }, "peer expiry"},
		{"phases out of order", func(p *events.Params) { p.SigningSetPhase = p.ProposalPhase }, "signing phases"},
		{"deadline after epoch", func(p *events.Params) { p.SigningDeadline = 2 * p.SigningEpoch }, "signing phases"},
		{"no network", func(p *events.Params) { p.Network = "" }, "network"},
		{"no intent pow passes", func(p *events.Params) { p.IntentPoWTime = 0 }, "intent pow time"},
		{"tiny intent pow memory", func(p *events.Params) { p.IntentPoWMemoryKiB = 4 }, "intent pow memory"},
		{"intent pow too hard", func(p *events.Params) { p.IntentPoWBits = 33 }, "intent pow bits"},
		{"no intents per peer", func(p *events.Params) { p.IntentsPerPeer = 0 }, "intents per peer"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			tc.change(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestIntentPoW(t *testing.T) {
	p := events.DefaultParams(5, 2)
	p.IntentPoWTime, p.IntentPoWMemoryKiB, p.IntentPoWBits = 1, 64, 6
	kv := events.KVEntry{Amount: 1234, Intent: []byte("pay to dest")}
	tries := events.MineIntentPoW(p, &kv, 0)
	if tries < 1 || !events.VerifyIntentPoW(p, &kv) {
		t.Fatalf("mined nonce %x (%d tries) does not verify", kv.Nonce, tries)
	}
	again := events.KVEntry{Amount: 1234, Intent: []byte("pay to dest")}
	events.MineIntentPoW(p, &again, 0)
	if !bytes.Equal(again.Nonce, kv.Nonce) {
		t.Fatal("mining from the same start gave another nonce")
	}
	// The work binds amount and intent: the same nonce on another
	// intent fails at least once in a few tries (6 bits: 1 in 64 passes).
	failed := 0
	for i := range 4 {
		other := kv
		other.Amount = kv.Amount + uint64(i) + 1
		if !events.VerifyIntentPoW(p, &other) {
			failed++
		}
		other = kv
		other.Intent = []byte(fmt.Sprint("pay to thief ", i))
		if !events.VerifyIntentPoW(p, &other) {
			failed++
		}
	}
	if failed < 6 {
		t.Fatalf("only %d of 8 changed intents fail with the old nonce", failed)
	}
	long := kv
	long.Nonce = make([]byte, events.MaxIntentNonce+1)
	if events.VerifyIntentPoW(p, &long) {
		t.Fatal("an over-long nonce verifies")
	}
}
