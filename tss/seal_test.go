package tss_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

func identity(t *testing.T) (crypto.PrivKey, events.PeerID) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, events.PeerID(id)
}

func TestSealOpen(t *testing.T) {
	aliceKey, alice := identity(t)
	bobKey, bob := identity(t)
	eveKey, _ := identity(t)
	session := eventstest.Hash("session")
	secret := []byte("a share for bob alone")

	sealed, err := tss.Seal(aliceKey, bob, session, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("the payload is readable on the wire")
	}
	got, err := tss.Open(bobKey, alice, session, sealed)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("bob cannot open: %v", err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name    string
		key     crypto.PrivKey
		from    events.PeerID
		session events.Hash
		sealed  []byte
	}{
		{"another recipient", eveKey, alice, session, sealed},
		{"claimed from another sender", bobKey, bob, session, sealed},
		{"replayed into another session", bobKey, alice, eventstest.Hash("other"), sealed},
		{"altered", bobKey, alice, session, flipped},
		{"truncated", bobKey, alice, session, sealed[:10]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tss.Open(tc.key, tc.from, tc.session, tc.sealed); !errors.Is(err, tss.ErrUnsealed) {
				t.Fatalf("opened or wrong error: %v", err)
			}
		})
	}
}
