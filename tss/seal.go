package tss

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"slices"

	"filippo.io/edwards25519"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"

	"github.com/metanode/metanode/events"
)

// Point-to-point tss payloads travel over gossip, which every peer sees,
// so they are sealed to their recipient: X25519 between the sender's and
// the recipient's identity keys (the Ed25519 keys converted to their
// Montgomery form, so no extra key is published), HKDF-SHA256 bound to
// the session and both peer ids, then XChaCha20-Poly1305.

// ErrUnsealed: a sealed payload does not open (wrong recipient, altered).
var ErrUnsealed = errors.New("sealed tss payload does not open")

func x25519Private(key crypto.PrivKey) (*ecdh.PrivateKey, error) {
	raw, err := key.Raw()
	if err != nil {
		return nil, err
	}
	if len(raw) < ed25519.SeedSize {
		return nil, fmt.Errorf("not an Ed25519 private key")
	}
	// RFC 8032: the secret scalar is the first half of SHA-512(seed),
	// clamped; X25519 clamps the same bytes itself, so the X25519 key is
	// the Ed25519 key's scalar, matching the public key's Montgomery form.
	h := sha512.Sum512(raw[:ed25519.SeedSize])
	return ecdh.X25519().NewPrivateKey(h[:32])
}

func x25519Public(id events.PeerID) (*ecdh.PublicKey, error) {
	pub, err := peer.ID(id).ExtractPublicKey()
	if err != nil {
		return nil, err
	}
	raw, err := pub.Raw()
	if err != nil {
		return nil, err
	}
	p, err := new(edwards25519.Point).SetBytes(raw)
	if err != nil {
		return nil, err
	}
	return ecdh.X25519().NewPublicKey(p.BytesMontgomery())
}

func sealKey(self crypto.PrivKey, other events.PeerID, session events.Hash, from, to events.PeerID) ([]byte, error) {
	priv, err := x25519Private(self)
	if err != nil {
		return nil, err
	}
	pub, err := x25519Public(other)
	if err != nil {
		return nil, err
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return nil, err
	}
	info := append([]byte("metanode/v1/tss-p2p"), session[:]...)
	info = append(info, from...)
	info = append(info, to...)
	key := make([]byte, chacha20poly1305.KeySize)
	if _, err := io.ReadFull(hkdf.New(sha256.New, shared, nil, info), key); err != nil {
		return nil, err
	}
	return key, nil
}

func sealAAD(session events.Hash, from, to events.PeerID) []byte {
	aad := append([]byte{}, session[:]...)
	aad = append(aad, from...)
	return append(aad, to...)
}

// Seal encrypts payload from the holder of self to the peer to.
func Seal(self crypto.PrivKey, to events.PeerID, session events.Hash, payload []byte) ([]byte, error) {
	pid, err := peer.IDFromPrivateKey(self)
	if err != nil {
		return nil, err
	}
	from := events.PeerID(pid)
	key, err := sealKey(self, to, session, from, to)
	if err != nil {
		return nil, fmt.Errorf("seal to %s: %w", to.Short(), err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	// The nonce is derived from the key and the payload (as in SIV): the
	// key is unique to (session, sender, recipient), so a nonce repeats
	// only with its payload, and a message sealed twice (a retransmission,
	// or a seeded simulation's rerun) is the same bytes.
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("metanode/v1/tss-p2p-nonce"))
	mac.Write(payload)
	nonce := mac.Sum(nil)[:chacha20poly1305.NonceSizeX]
	return aead.Seal(slices.Clone(nonce), nonce, payload, sealAAD(session, from, to)), nil
}

// Open decrypts a payload sealed by from to the holder of self.
func Open(self crypto.PrivKey, from events.PeerID, session events.Hash, sealed []byte) ([]byte, error) {
	pid, err := peer.IDFromPrivateKey(self)
	if err != nil {
		return nil, err
	}
	to := events.PeerID(pid)
	if len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrUnsealed
	}
	key, err := sealKey(self, from, session, from, to)
	if err != nil {
		return nil, fmt.Errorf("open from %s: %w", from.Short(), err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	nonce := sealed[:chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, sealed[chacha20poly1305.NonceSizeX:], sealAAD(session, from, to))
	if err != nil {
		return nil, ErrUnsealed
	}
	return plain, nil
}
