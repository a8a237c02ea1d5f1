package tss

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"

	"github.com/metanode/metanode/events"
)

// ShareProofSize is the size of a share proof: R compressed (33 bytes)
// and s (32 bytes).
const ShareProofSize = 65

// Proof purposes, part of the challenge: a ping's proof can never be
// passed off as a proposal's.
const (
	ProofForPing     = "ping"
	ProofForProposal = "proposal"
)

// ProofContext binds a share proof to what it is for. PROTOCOL.md: the
// challenge is bound to (domain, key_id, peer_id, time bucket); for a ping
// the bucket is its time divided by the ping interval, for a proposal the
// round number.
type ProofContext struct {
	Purpose string
	KeyID   events.Hash
	Peer    events.PeerID
	Bucket  int64
}

func (c ProofContext) encode() []byte {
	b := make([]byte, 0, 96+len(c.Peer))
	b = append(b, "metanode/v1/share-proof/"...)
	b = append(b, c.Purpose...)
	b = append(b, 0)
	b = append(b, c.KeyID[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Peer)))
	b = append(b, c.Peer...)
	return binary.BigEndian.AppendUint64(b, uint64(c.Bucket))
}

var errBadShare = errors.New("share is not a valid secp256k1 scalar")

// SharePoint returns X = x*G, compressed, for the share x (32 bytes, big endian).
func SharePoint(share []byte) ([]byte, error) {
	var x btcec.ModNScalar
	if len(share) != 32 || x.SetByteSlice(share) || x.IsZero() {
		return nil, errBadShare
	}
	return btcec.PrivKeyFromScalar(&x).PubKey().SerializeCompressed(), nil
}

// ProveShare proves knowledge of the share x behind X = x*G within ctx: a
// Schnorr proof whose nonce is derived from x and the context (RFC 6979),
// so the same share and context always give the same proof and no
// randomness is needed.
func ProveShare(share []byte, ctx ProofContext) ([]byte, error) {
	var x btcec.ModNScalar
	if len(share) != 32 || x.SetByteSlice(share) || x.IsZero() {
		return nil, errBadShare
	}
	point := btcec.PrivKeyFromScalar(&x).PubKey().SerializeCompressed()
	msg := sha512.Sum512_256(append(ctx.encode(), point...))
	k := btcec.NonceRFC6979(share, msg[:], nil, nil, 0)

	var r btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(k, &r)
	r.ToAffine()
	rBytes := btcec.NewPublicKey(&r.X, &r.Y).SerializeCompressed()

	e := challenge(ctx, point, rBytes)
	var s btcec.ModNScalar
	s.Mul2(&e, &x).Add(k)
	sBytes := s.Bytes()
	k.Zero()
	return append(rBytes, sBytes[:]...), nil
}

// VerifyShare checks a share proof against the public share point X
// (compressed). It reports false for any malformed input.
func VerifyShare(point, proof []byte, ctx ProofContext) bool {
	if len(proof) != ShareProofSize {
		return false
	}
	pub, err := btcec.ParsePubKey(point)
	if err != nil {
		return false
	}
	rPub, err := btcec.ParsePubKey(proof[:33])
	if err != nil {
		return false
	}
	var s btcec.ModNScalar
	if s.SetByteSlice(proof[33:]) {
		return false // s >= n
	}
	e := challenge(ctx, point, proof[:33])

	// s*G == R + e*X
	var sG, eX, X, R, rhs btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&s, &sG)
	pub.AsJacobian(&X)
	btcec.ScalarMultNonConst(&e, &X, &eX)
	rPub.AsJacobian(&R)
	btcec.AddNonConst(&R, &eX, &rhs)
	sG.ToAffine()
	rhs.ToAffine()
	return !(sG.X.IsZero() && sG.Y.IsZero()) && sG.X.Equals(&rhs.X) && sG.Y.Equals(&rhs.Y)
}

func challenge(ctx ProofContext, point, r []byte) btcec.ModNScalar {
	h := sha512.New512_256()
	h.Write(ctx.encode())
	h.Write(point)
	h.Write(r)
	var e btcec.ModNScalar
	e.SetByteSlice(h.Sum(nil))
	return e
}
