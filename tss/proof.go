package tss

import (
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"sync"

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
	defer x.Zero()
	return compressedBasePoint(&x), nil
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
	defer x.Zero()
	// Both multiplications take secret scalars (the share, the nonce):
	// constant time (basemult.go).
	point := compressedBasePoint(&x)
	msg := sha512.Sum512_256(append(ctx.encode(), point...))
	k := btcec.NonceRFC6979(share, msg[:], nil, nil, 0)
	rBytes := compressedBasePoint(k)

	e := challenge(ctx, point, rBytes)
	var s btcec.ModNScalar
	s.Mul2(&e, &x).Add(k)
	sBytes := s.Bytes()
	k.Zero()
	return append(rBytes, sBytes[:]...), nil
}

// VerifyShare checks a share proof against the public share point X
// (compressed). It reports false for any malformed input. Results are
// remembered (verified): many receivers in one process (a simulation, or
// a replay next to a live node) check the same proof once.
func VerifyShare(point, proof []byte, ctx ProofContext) bool {
	if len(proof) != ShareProofSize {
		return false
	}
	return verified.check(point, proof, ctx, verifyShare)
}

func verifyShare(point, proof []byte, ctx ProofContext) bool {
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

// proofMemo remembers share proof verifications: the answer depends only
// on the inputs, so a memo changes no result. Two generations of at most
// memoGeneration entries each bound its memory.
type proofMemo struct {
	mu                sync.Mutex
	current, previous map[[32]byte]bool
}

const memoGeneration = 8192

var verified proofMemo

// ForgetVerified empties the memo of verified proofs, so a benchmark
// measures one node's cost, not a process that has seen every proof.
func ForgetVerified() {
	verified.mu.Lock()
	verified.current, verified.previous = nil, nil
	verified.mu.Unlock()
}

func (m *proofMemo) check(point, proof []byte, ctx ProofContext, verify func([]byte, []byte, ProofContext) bool) bool {
	h := sha512.New512_256()
	for _, part := range [][]byte{point, proof, ctx.encode()} {
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(part))))
		h.Write(part)
	}
	var key [32]byte
	h.Sum(key[:0])
	m.mu.Lock()
	ok, found := m.current[key]
	if !found {
		ok, found = m.previous[key]
	}
	m.mu.Unlock()
	if found {
		return ok
	}
	ok = verify(point, proof, ctx)
	m.mu.Lock()
	if m.current == nil || len(m.current) >= memoGeneration {
		m.previous, m.current = m.current, map[[32]byte]bool{}
	}
	m.current[key] = ok
	m.mu.Unlock()
	return ok
}
