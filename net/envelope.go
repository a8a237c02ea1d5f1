package net

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
)

// Domain prefixes every signed payload, so a metanode signature can never
// be replayed as a signature of anything else.
const Domain = "metanode/v1/"

// MaxBody is each message type's size limit; larger messages are dropped
// at validation.
var MaxBody = map[string]int{
	events.TypePing:       1 << 10,
	events.TypeProposal:   64 << 10,
	events.TypeSigningSet: 16 << 10,
	events.TypeChecksum:   16 << 10, // names the threshold set

	events.TypeKeygenCommit: 256,
	events.TypeKVEntry:      4 << 10,
	events.TypeTSS:          1 << 20,
	events.TypeKey:          64 << 10,
	events.TypeCulprits:     16 << 10,
	// two messages of one type, the largest tss broadcasts, with envelopes
	events.TypeEvidence: 2*(1<<20) + 4<<10,
}

// Validation errors.
var (
	ErrUnknownType  = errors.New("unknown message type")
	ErrTooLarge     = errors.New("message too large")
	ErrBadSender    = errors.New("sender is not an Ed25519 peer id")
	ErrBadSignature = errors.New("signature does not verify")
)

// SignedPayload is what a sender signs: Domain, the type, a zero byte
// (no type is a prefix of another's bytes then), and the body.
func SignedPayload(typ string, body []byte) []byte {
	out := make([]byte, 0, len(Domain)+len(typ)+1+len(body))
	out = append(out, Domain...)
	out = append(out, typ...)
	out = append(out, 0)
	return append(out, body...)
}

// Sign wraps body as a message of type typ signed by key.
func Sign(key crypto.PrivKey, typ string, body []byte) (events.Signed, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return events.Signed{}, fmt.Errorf("sign %s: %w", typ, err)
	}
	sig, err := key.Sign(SignedPayload(typ, body))
	if err != nil {
		return events.Signed{}, fmt.Errorf("sign %s: %w", typ, err)
	}
	return events.Signed{Type: typ, From: events.PeerID(id), Body: body, Sig: sig}, nil
}

// Validate is the gossip validator's check: a known type within its size
// limit, an Ed25519 sender, and a signature that verifies. A message that
// fails is dropped and never reaches the log.
func Validate(m *events.Signed) error {
	limit, ok := MaxBody[m.Type]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownType, m.Type)
	}
	if len(m.Body) > limit {
		return fmt.Errorf("%w: %s of %d bytes (limit %d)", ErrTooLarge, m.Type, len(m.Body), limit)
	}
	pub, err := peer.ID(m.From).ExtractPublicKey()
	if err != nil || pub.Type() != crypto.Ed25519 {
		return fmt.Errorf("%w: %s", ErrBadSender, m.From.Short())
	}
	ok, err = pub.Verify(SignedPayload(m.Type, m.Body), m.Sig)
	if err != nil || !ok {
		return fmt.Errorf("%w: %s from %s", ErrBadSignature, m.Type, m.From.Short())
	}
	return nil
}
