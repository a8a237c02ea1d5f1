package tss

import (
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/metanode/metanode/events"
)

// Point-to-point tss payloads travel over gossip and stay in every
// receiver's log, so they are sealed to their recipient with keys that
// outlive neither the session nor the node's memory: each party draws an
// ephemeral X25519 key when its session starts, announces the public half
// in a tss message its identity signs (so the key is bound to the session
// and the party), seals to a recipient's announced key, and erases the
// secret half when its session ends. A sealed payload names the sender's
// ephemeral key beside it (also under the sender's signature), so the
// recipient opens it with its own secret alone. Once both secrets are
// erased nothing opens the payload again: not the log, not recorded
// gossip, not a later-stolen identity key (forward secrecy), and a
// session's shares never depend on the identity key's secrecy.
//
// Keys: HKDF-SHA256 over the X25519 secret, one label per use (the AEAD
// key and the nonce key), the info binding the session, both peer ids and
// both ephemeral keys, each part length-prefixed. The AEAD is
// XChaCha20-Poly1305 with the same parts as associated data.

// ErrUnsealed: a sealed payload does not open (wrong recipient, altered).
var ErrUnsealed = errors.New("sealed tss payload does not open")

// ErrErased: the session key was erased (its session ended).
var ErrErased = errors.New("tss session key erased")

// SessionKeySize is the size of an announced ephemeral public key.
const SessionKeySize = 32

// SessionKey is one party's ephemeral X25519 key for one session. Not
// safe for concurrent use.
type SessionKey struct {
	secret []byte // nil once erased
	public []byte
}

// NewSessionKey draws a session key from rand (nil: crypto/rand).
func NewSessionKey(random io.Reader) (*SessionKey, error) {
	if random == nil {
		random = rand.Reader
	}
	secret := make([]byte, 32)
	if _, err := io.ReadFull(random, secret); err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	priv, err := ecdh.X25519().NewPrivateKey(secret)
	if err != nil {
		return nil, fmt.Errorf("session key: %w", err)
	}
	return &SessionKey{secret: secret, public: priv.PublicKey().Bytes()}, nil
}

// Public is the key to announce.
func (k *SessionKey) Public() []byte { return slices.Clone(k.public) }

// Erase overwrites the secret half; the key seals and opens nothing after.
// (Go may have copied the scalar inside crypto/ecdh for a computation
// under way; this clears the copy the node keeps for the session's life.)
func (k *SessionKey) Erase() {
	if k == nil || k.secret == nil {
		return
	}
	clear(k.secret)
	k.secret = nil
}

// Erased reports whether the key was erased.
func (k *SessionKey) Erased() bool { return k == nil || k.secret == nil }

// CheckSessionKey verifies an announced public key: the right size and a
// point X25519 accepts.
func CheckSessionKey(public []byte) error {
	if len(public) != SessionKeySize {
		return fmt.Errorf("session key of %d bytes, want %d", len(public), SessionKeySize)
	}
	pub, err := ecdh.X25519().NewPublicKey(public)
	if err != nil {
		return fmt.Errorf("session key: %w", err)
	}
	// X25519 takes any 32 bytes as a public key; a low-order point gives
	// every peer the all-zero secret, which crypto/ecdh refuses at use.
	// Find it now, with a fixed scalar, so it is never announced to.
	if _, err := lowOrderProbe.ECDH(pub); err != nil {
		return fmt.Errorf("session key: %w", err)
	}
	return nil
}

// lowOrderProbe is a fixed scalar to test announced keys with.
var lowOrderProbe = func() *ecdh.PrivateKey {
	k, err := ecdh.X25519().NewPrivateKey([]byte("metanode/v2/low-order-probe/....")[:32])
	if err != nil {
		panic(err)
	}
	return k
}()

// channel is what both ends of one direction of a session's point-to-point
// traffic derive alike.
type channel struct {
	session        events.Hash
	from, to       events.PeerID
	senderKey      []byte // the sender's ephemeral public key
	recipientKey   []byte // the recipient's
	aeadKey, nonce []byte
}

func (c *channel) parts() [][]byte {
	return [][]byte{c.session[:], []byte(c.from), []byte(c.to), c.senderKey, c.recipientKey}
}

// derive computes the channel's keys from this end's secret and the other
// end's public key.
func (c *channel) derive(own *SessionKey, other []byte) error {
	if own.Erased() {
		return ErrErased
	}
	if err := CheckSessionKey(other); err != nil {
		return err
	}
	priv, err := ecdh.X25519().NewPrivateKey(own.secret)
	if err != nil {
		return err
	}
	pub, err := ecdh.X25519().NewPublicKey(other)
	if err != nil {
		return err
	}
	shared, err := priv.ECDH(pub)
	if err != nil {
		return err // a low-order point: the all-zero shared secret
	}
	defer clear(shared)
	if c.aeadKey, err = deriveKey(shared, "metanode/v2/tss-p2p/aead-key", c.parts()...); err != nil {
		return err
	}
	c.nonce, err = deriveKey(shared, "metanode/v2/tss-p2p/nonce-key", c.parts()...)
	return err
}

// aad is the associated data: the channel's parts, length-prefixed.
func (c *channel) aad() []byte { return hkdfInfo("metanode/v2/tss-p2p/aad", c.parts()...) }

func (c *channel) seal(payload []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(c.aeadKey)
	if err != nil {
		return nil, err
	}
	// The nonce is derived from the payload under a key of its own (as in
	// SIV): the channel is unique to (session, sender, recipient, keys), so
	// a nonce repeats only with its payload, and a message sealed twice (a
	// retransmission, a seeded simulation's rerun) is the same bytes.
	mac := hmac.New(sha256.New, c.nonce)
	mac.Write(payload)
	nonce := mac.Sum(nil)[:chacha20poly1305.NonceSizeX]
	return aead.Seal(slices.Clone(nonce), nonce, payload, c.aad()), nil
}

func (c *channel) open(sealed []byte) ([]byte, error) {
	if len(sealed) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, ErrUnsealed
	}
	aead, err := chacha20poly1305.NewX(c.aeadKey)
	if err != nil {
		return nil, err
	}
	nonce := sealed[:chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, sealed[chacha20poly1305.NonceSizeX:], c.aad())
	if err != nil {
		return nil, ErrUnsealed
	}
	return plain, nil
}

// Seal encrypts payload from this key's holder (from) to the party to,
// whose announced session key is recipientKey.
func (k *SessionKey) Seal(session events.Hash, from, to events.PeerID, recipientKey, payload []byte) ([]byte, error) {
	c := channel{session: session, from: from, to: to, senderKey: k.public, recipientKey: recipientKey}
	if err := c.derive(k, recipientKey); err != nil {
		return nil, fmt.Errorf("seal to %s: %w", to.Short(), err)
	}
	return c.seal(payload)
}

// Open decrypts a payload sealed by from (whose session key, sent beside
// the payload, is senderKey) to this key's holder (to).
func (k *SessionKey) Open(session events.Hash, from, to events.PeerID, senderKey, sealed []byte) ([]byte, error) {
	c := channel{session: session, from: from, to: to, senderKey: senderKey, recipientKey: k.public}
	if err := c.derive(k, senderKey); err != nil {
		if errors.Is(err, ErrErased) {
			return nil, err
		}
		return nil, ErrUnsealed
	}
	return c.open(sealed)
}

// OpenSent decrypts a payload this key's holder (from) sealed to to: the
// simulator playing a byzantine sender, and tests, read back what a party
// sent while its key lives.
func (k *SessionKey) OpenSent(session events.Hash, from, to events.PeerID, recipientKey, sealed []byte) ([]byte, error) {
	c := channel{session: session, from: from, to: to, senderKey: k.public, recipientKey: recipientKey}
	if err := c.derive(k, recipientKey); err != nil {
		if errors.Is(err, ErrErased) {
			return nil, err
		}
		return nil, ErrUnsealed
	}
	return c.open(sealed)
}
