//go:build devnet

package daemon

import (
	"crypto/rand"
	"log/slog"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
)

// TestByzantineBehaviours: a devnet build plays each behaviour at its
// transport (a lying checksum is re-signed, so it is the node's own
// signed lie: evidence), and refuses a behaviour it does not know.
func TestByzantineBehaviours(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signed := func(typ string, body any) events.Signed {
		data, err := events.Marshal(nil, body)
		if err != nil {
			t.Fatal(err)
		}
		m, err := net.Sign(key, typ, data)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	checksum := events.Checksum{Round: 7, Sum: events.Hash{1}}
	msgs := []events.Signed{signed(events.TypeChecksum, &checksum), signed(events.TypeTSS, &events.TSSMessage{})}
	for _, tc := range []struct {
		behaviour string
		sent      int
	}{{"silent", 0}, {"tss-silent", 1}, {"wrong-checksum", 2}} {
		var out []events.Signed
		send, err := byzantine(tc.behaviour, key, func(m events.Signed) error { out = append(out, m); return nil }, slog.Default())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if err := send(m); err != nil {
				t.Fatal(err)
			}
		}
		if len(out) != tc.sent {
			t.Fatalf("%s: %d of 2 messages sent, want %d", tc.behaviour, len(out), tc.sent)
		}
		if tc.behaviour != "wrong-checksum" {
			continue
		}
		var lie events.Checksum
		if err := net.Validate(&out[0]); err != nil || events.Unmarshal(out[0].Body, &lie) != nil || lie.Sum == checksum.Sum || lie.Round != checksum.Round {
			t.Fatalf("wrong-checksum sent %+v (%v): want a validly signed checksum with another sum", lie, err)
		}
	}
	if _, err := byzantine("sneaky", key, nil, slog.Default()); err == nil {
		t.Fatal("an unknown behaviour was accepted")
	}
}
