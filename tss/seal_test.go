package tss_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

func sessionKey(t *testing.T) *tss.SessionKey {
	t.Helper()
	k, err := tss.NewSessionKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckSessionKey(t *testing.T) {
	if err := tss.CheckSessionKey(sessionKey(t).Public()); err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string][]byte{
		"all zero (low order)": make([]byte, 32),
		"one (low order)":      append([]byte{1}, make([]byte, 31)...),
		"short":                make([]byte, 31),
	} {
		if tss.CheckSessionKey(key) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSealOpen(t *testing.T) {
	alice, bob := eventstest.Peer(1), eventstest.Peer(2)
	aliceKey, bobKey, eveKey := sessionKey(t), sessionKey(t), sessionKey(t)
	session := eventstest.Hash("session")
	secret := []byte("a share for bob alone")

	sealed, err := aliceKey.Seal(session, alice, bob, bobKey.Public(), secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the payload is readable on the wire")
	}
	got, err := bobKey.Open(session, alice, bob, aliceKey.Public(), sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("bob cannot open: %v", err)
	}
	if got, err := aliceKey.OpenSent(session, alice, bob, bobKey.Public(), sealed); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("the sender cannot read back what it sealed: %v", err)
	}
	again, _ := aliceKey.Seal(session, alice, bob, bobKey.Public(), secret)
	if !bytes.Equal(again, sealed) {
		t.Fatal("sealing one payload twice gave two ciphertexts (retransmissions must be byte-identical)")
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name      string
		key       *tss.SessionKey
		from, to  events.PeerID
		senderKey []byte
		session   events.Hash
		sealed    []byte
	}{
		{"another recipient's key", eveKey, alice, bob, aliceKey.Public(), session, sealed},
		{"claimed from another sender", bobKey, eventstest.Peer(3), bob, aliceKey.Public(), session, sealed},
		{"addressed to another peer", bobKey, alice, eventstest.Peer(3), aliceKey.Public(), session, sealed},
		{"another sender key", bobKey, alice, bob, eveKey.Public(), session, sealed},
		{"replayed into another session", bobKey, alice, bob, aliceKey.Public(), eventstest.Hash("other"), sealed},
		{"altered", bobKey, alice, bob, aliceKey.Public(), session, flipped},
		{"truncated", bobKey, alice, bob, aliceKey.Public(), session, sealed[:10]},
		{"a low-order sender key", bobKey, alice, bob, make([]byte, 32), session, sealed},
		{"a short sender key", bobKey, alice, bob, aliceKey.Public()[:31], session, sealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.key.Open(tc.session, tc.from, tc.to, tc.senderKey, tc.sealed); !errors.Is(err, tss.ErrUnsealed) {
				t.Fatalf("opened or wrong error: %v", err)
			}
		})
	}
}

// TestSessionKeyErased: once a session's key is erased, what was sealed
// with it opens for nobody holding that end, and nothing new is sealed.
func TestSessionKeyErased(t *testing.T) {
	alice, bob := eventstest.Peer(1), eventstest.Peer(2)
	aliceKey, bobKey := sessionKey(t), sessionKey(t)
	session := eventstest.Hash("session")
	sealed, err := aliceKey.Seal(session, alice, bob, bobKey.Public(), []byte("share"))
	if err != nil {
		t.Fatal(err)
	}
	aliceKey.Erase()
	bobKey.Erase()
	if _, err := bobKey.Open(session, alice, bob, aliceKey.Public(), sealed); !errors.Is(err, tss.ErrErased) {
		t.Fatalf("the recipient opened with an erased key: %v", err)
	}
	if _, err := aliceKey.OpenSent(session, alice, bob, bobKey.Public(), sealed); !errors.Is(err, tss.ErrErased) {
		t.Fatalf("the sender read back with an erased key: %v", err)
	}
	if _, err := aliceKey.Seal(session, alice, bob, bobKey.Public(), []byte("more")); !errors.Is(err, tss.ErrErased) {
		t.Fatalf("sealed with an erased key: %v", err)
	}
}
