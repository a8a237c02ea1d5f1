package net_test

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
)

func newKey(t *testing.T) crypto.PrivKey {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSignValidate(t *testing.T) {
	key, other := newKey(t), newKey(t)
	good, err := net.Sign(key, events.TypePing, []byte("body"))
	if err != nil {
		t.Fatal(err)
	}
	if err := net.Validate(&good); err != nil {
		t.Fatalf("a correctly signed message fails: %v", err)
	}
	forged, _ := net.Sign(other, events.TypePing, []byte("body"))
	forged.From = good.From

	otherType := good
	otherType.Type = events.TypeChecksum // same body and signature, another type

	tampered := good
	tampered.Body = []byte("bodY")

	tests := []struct {
		name string
		msg  events.Signed
		want error
	}{
		{"signed by another key", forged, net.ErrBadSignature},
		{"signature moved to another type", otherType, net.ErrBadSignature},
		{"body changed", tampered, net.ErrBadSignature},
		{"unknown type", events.Signed{Type: "gossip", From: good.From, Body: good.Body, Sig: good.Sig}, net.ErrUnknownType},
		{"too large", events.Signed{Type: events.TypeChecksum, From: good.From, Body: make([]byte, 17<<10), Sig: good.Sig}, net.ErrTooLarge},
		{"sender not a peer id", events.Signed{Type: events.TypePing, From: "nobody", Body: good.Body, Sig: good.Sig}, net.ErrBadSender},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := net.Validate(&tc.msg); !errors.Is(err, tc.want) {
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestPayloadsAreUnambiguous: the zero byte after the type keeps a type
// that is a prefix of another from sharing signed payloads.
func TestPayloadsAreUnambiguous(t *testing.T) {
	a := net.SignedPayload("ab", []byte("c"))
	b := net.SignedPayload("a", []byte("bc"))
	if string(a) == string(b) {
		t.Fatal("two different (type, body) pairs sign the same payload")
	}
}
