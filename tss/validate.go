package tss

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"
	"github.com/btcsuite/btcd/btcec/v2"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// Every incoming tss message is checked here before tss-lib sees it.
// tss-lib verifies the proofs of keygen rounds 3 and 4, signing rounds 2
// and 3 and resharing round 4 on goroutines of its own, where a panic
// cannot be recovered by the session's recover: a malformed message from
// one peer would take the whole node down. It also trusts message fields
// in places (a zero share or scalar reaches ScalarBaseMult, which panics
// on the point at infinity; an even Paillier modulus reaches big.Jacobi,
// which panics; a DLN proof's length prefix above 2^63 slices with a
// negative bound). So a message is admitted only if it parses as a
// content type this session's protocol (and, in a resharing, this side
// from that side) can receive, with the broadcast flag tss-lib routes it
// by, passes tss-lib's own ValidateBasic, has no unknown fields, and
// every field is within the bounds below: the sizes an honest tss-lib
// v3 party can produce with 2048-bit Paillier and NTilde moduli (which
// keygen enforces) on secp256k1, plus the value checks that keep the
// panics above out of reach. A rejected message is dropped, like a
// message from a non-party, and counted (Rejections); its sender then
// shows up as a culprit when the session times out waiting for it.
//
// The bounds are the largest values the tss-lib v3.0.0 provers can
// output (q is the 256-bit group order, N a 2048-bit Paillier modulus,
// Ñ a 2048-bit NTilde), so an honest message is never refused; the
// largest sizes measured in real sessions of up to 10 parties are in
// tss/validate_bounds.md.
//
//	values mod q, coordinates, commitments, ssid   32 bytes
//	N, Ñ: exactly 2048 bits and odd                256 bytes
//	values mod N or Ñ (and h1, h2 < Ñ)             256 bytes
//	Paillier ciphertexts, values mod N²            512 bytes
//	range proof s1, Bob's s1 (< 2q³)                97 bytes
//	Bob's t1 (< 2q⁷)                               225 bytes
//	s2, t2, fac w1, w2 (< 2q³Ñ)                    353 bytes
//	fac z1, z2 (< 2q³√N)                           225 bytes
//	fac sigma (< qNÑ)                              544 bytes
//	fac v (< 2q³NÑ)                                609 bytes
//	mod proof a, b (81 bits)                        11 bytes
const (
	scalarBytes     = 32
	modulusBytes    = 256
	ciphertextBytes = 512
	s1Bytes         = 97
	t1Bytes         = 225
	s2Bytes         = 353
	facZBytes       = 225
	facSigmaBytes   = 544
	facVBytes       = 609
	modABytes       = 11
)

// Part counts of tss-lib v3's proofs.
const (
	dlnIterations   = 128
	dlnParts        = 2 + 2*dlnIterations // two length prefixes, alpha, t
	modProofParts   = 2*80 + 3            // w, x[80], a, b, z[80]
	facProofParts   = 11
	paillierParts   = 13
	rangeProofParts = 6
	bobProofParts   = 10
	bobWCProofParts = 12
)

var curveOrder = curve().Params().N

// Rejections counts the messages dropped by validation since the process
// started, by content type ("unparsed" when the payload is not a
// message at all): a peer sending malformed tss messages shows here.
func Rejections() map[string]uint64 {
	rejected.mu.Lock()
	defer rejected.mu.Unlock()
	out := make(map[string]uint64, len(rejected.byType))
	for k, v := range rejected.byType {
		out[k] = v
	}
	return out
}

var rejected struct {
	mu     sync.Mutex
	byType map[string]uint64
}

func countRejection(kind string) {
	rejected.mu.Lock()
	if rejected.byType == nil {
		rejected.byType = map[string]uint64{}
	}
	rejected.byType[kind]++
	rejected.mu.Unlock()
}

// admit reports whether in may go on to tss-lib. Messages this session
// drops anyway (another session's, or after the end) pass untouched.
func (s *Session[T]) admit(in Incoming) bool {
	if s.result != nil || in.Session != s.id || s.party == nil {
		return true
	}
	if len(in.Echo) > 0 {
		return validEcho(in)
	}
	v, ok := sessionValidator(s.party, s.router)
	if !ok {
		return true
	}
	kind, err := v.check(in)
	if err != nil {
		countRejection(kind)
		return false
	}
	return true
}

// protocol is the tss-lib protocol a session runs.
type protocol uint8

const (
	protocolKeygen protocol = iota + 1
	protocolSigning
	protocolResharing
)

// validator checks messages for one party of one session.
type validator struct {
	protocol protocol
	side     Side // the receiving party's side: SideOnly unless resharing
	// parties bounds the de-commitments of Feldman commitments: keygen's
	// committee, or a resharing's new committee (t+1 <= parties).
	parties int
}

func sessionValidator(party tsslib.Party, r router) (validator, bool) {
	switch party.(type) {
	case *keygen.LocalParty:
		if sr, ok := r.(singleRouter); ok {
			return validator{protocol: protocolKeygen, side: SideOnly, parties: len(sr.ids.sorted)}, true
		}
	case *signing.LocalParty:
		if sr, ok := r.(singleRouter); ok {
			return validator{protocol: protocolSigning, side: SideOnly, parties: len(sr.ids.sorted)}, true
		}
	case *resharing.LocalParty:
		if rr, ok := r.(resharingRouter); ok {
			return validator{protocol: protocolResharing, side: rr.side, parties: len(rr.new.sorted)}, true
		}
	}
	return validator{}, false
}

// sides is a set of resharing sides.
type sides uint8

const (
	toOld sides = 1 << iota
	toNew
)

func (s sides) has(side Side) bool {
	switch side {
	case SideOld:
		return s&toOld != 0
	case SideNew:
		return s&toNew != 0
	}
	return false
}

// rule is what one content type may look like.
type rule struct {
	protocol  protocol
	new       func() proto.Message
	broadcast bool
	from      Side  // the sender's side: SideOnly unless resharing
	to        sides // resharing: the sides that receive it
	fields    []fieldBound
	check     func(m proto.Message) error // value checks beyond the sizes
}

// fieldBound bounds one bytes field: each value is 1..max bytes; a
// repeated field has exactly parts values, or with decommitment a
// Feldman de-commitment's 1+2(t+1) values for some t < parties.
type fieldBound struct {
	name          protoreflect.Name
	max           int
	parts         int
	decommitment  bool
	repeatedParts bool
}

func single(name protoreflect.Name, max int) fieldBound { return fieldBound{name: name, max: max} }

func parts(name protoreflect.Name, max, n int) fieldBound {
	return fieldBound{name: name, max: max, parts: n, repeatedParts: true}
}

func decommitment(name protoreflect.Name) fieldBound {
	return fieldBound{name: name, max: scalarBytes, decommitment: true, repeatedParts: true}
}

// The largest value of any part of a DLN proof, mod proof, fac proof or
// Paillier proof, for the size bound of the repeated field.
var (
	dlnProofBound   = parts("", modulusBytes, dlnParts)
	modProofBound   = parts("", modulusBytes, modProofParts)
	facProofBound   = parts("", facVBytes, facProofParts)
	rangeProofBound = parts("", ciphertextBytes, rangeProofParts)
)

func named(b fieldBound, name protoreflect.Name) fieldBound { b.name = name; return b }

var rules = map[protoreflect.FullName]rule{}

func addRule(r rule) {
	rules[r.new().ProtoReflect().Descriptor().FullName()] = r
}

func init() {
	// keygen
	addRule(rule{protocol: protocolKeygen, new: func() proto.Message { return new(keygen.KGRound1Message) }, broadcast: true,
		fields: []fieldBound{single("commitment", scalarBytes), single("paillier_n", modulusBytes), single("n_tilde", modulusBytes),
			single("h1", modulusBytes), single("h2", modulusBytes), named(dlnProofBound, "dlnproof_1"), named(dlnProofBound, "dlnproof_2")},
		check: func(m proto.Message) error {
			r := m.(*keygen.KGRound1Message)
			return paillierAndDLN(r.PaillierN, r.NTilde, r.H1, r.H2, r.Dlnproof_1, r.Dlnproof_2)
		}})
	addRule(rule{protocol: protocolKeygen, new: func() proto.Message { return new(keygen.KGRound2Message1) },
		fields: []fieldBound{single("share", scalarBytes), named(facProofBound, "facProof")},
		check: func(m proto.Message) error {
			r := m.(*keygen.KGRound2Message1)
			if err := nonZeroScalar("share", r.Share); err != nil {
				return err
			}
			return facProof(r.FacProof)
		}})
	addRule(rule{protocol: protocolKeygen, new: func() proto.Message { return new(keygen.KGRound2Message2) }, broadcast: true,
		fields: []fieldBound{decommitment("de_commitment"), named(modProofBound, "modProof")},
		check:  func(m proto.Message) error { return modProof(m.(*keygen.KGRound2Message2).ModProof) }})
	addRule(rule{protocol: protocolKeygen, new: func() proto.Message { return new(keygen.KGRound3Message) }, broadcast: true,
		fields: []fieldBound{parts("paillier_proof", modulusBytes, paillierParts)}})

	// signing
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound1Message1) },
		fields: []fieldBound{single("c", ciphertextBytes), named(rangeProofBound, "range_proof_alice")},
		check:  func(m proto.Message) error { return rangeProof(m.(*signing.SignRound1Message1).RangeProofAlice) }})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound1Message2) }, broadcast: true,
		fields: []fieldBound{single("commitment", scalarBytes)}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound2Message) },
		fields: []fieldBound{single("c1", ciphertextBytes), single("c2", ciphertextBytes),
			parts("proof_bob", ciphertextBytes, bobProofParts), parts("proof_bob_wc", ciphertextBytes, bobWCProofParts)},
		check: func(m proto.Message) error {
			r := m.(*signing.SignRound2Message)
			if err := bobProof(r.ProofBob); err != nil {
				return fmt.Errorf("proof_bob: %w", err)
			}
			if err := bobProof(r.ProofBobWc); err != nil {
				return fmt.Errorf("proof_bob_wc: %w", err)
			}
			return point("proof_bob_wc u", r.ProofBobWc[10], r.ProofBobWc[11])
		}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound3Message) }, broadcast: true,
		fields: []fieldBound{single("theta", scalarBytes)},
		check:  func(m proto.Message) error { return scalar("theta", m.(*signing.SignRound3Message).Theta) }})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound4Message) }, broadcast: true,
		fields: []fieldBound{parts("de_commitment", scalarBytes, 3), single("proof_alpha_x", scalarBytes), single("proof_alpha_y", scalarBytes), single("proof_t", scalarBytes)},
		check: func(m proto.Message) error {
			r := m.(*signing.SignRound4Message)
			return errors.Join(point("proof alpha", r.ProofAlphaX, r.ProofAlphaY), nonZeroScalar("proof_t", r.ProofT))
		}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound5Message) }, broadcast: true,
		fields: []fieldBound{single("commitment", scalarBytes)}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound6Message) }, broadcast: true,
		fields: []fieldBound{parts("de_commitment", scalarBytes, 5), single("proof_alpha_x", scalarBytes), single("proof_alpha_y", scalarBytes), single("proof_t", scalarBytes),
			single("v_proof_alpha_x", scalarBytes), single("v_proof_alpha_y", scalarBytes), single("v_proof_t", scalarBytes), single("v_proof_u", scalarBytes)},
		check: func(m proto.Message) error {
			r := m.(*signing.SignRound6Message)
			return errors.Join(point("proof alpha", r.ProofAlphaX, r.ProofAlphaY), nonZeroScalar("proof_t", r.ProofT),
				point("v proof alpha", r.VProofAlphaX, r.VProofAlphaY), nonZeroScalar("v_proof_t", r.VProofT), nonZeroScalar("v_proof_u", r.VProofU))
		}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound7Message) }, broadcast: true,
		fields: []fieldBound{single("commitment", scalarBytes)}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound8Message) }, broadcast: true,
		fields: []fieldBound{parts("de_commitment", scalarBytes, 5)}})
	addRule(rule{protocol: protocolSigning, new: func() proto.Message { return new(signing.SignRound9Message) }, broadcast: true,
		fields: []fieldBound{single("s", scalarBytes)},
		check:  func(m proto.Message) error { return scalar("s", m.(*signing.SignRound9Message).S) }})

	// resharing: round 1 and 3 from the old committee to the new, round
	// 2 and 4 from the new committee (round 2's ack to the old one, round
	// 4's to both)
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound1Message) }, broadcast: true, from: SideOld, to: toNew,
		fields: []fieldBound{single("ecdsa_pub_x", scalarBytes), single("ecdsa_pub_y", scalarBytes), single("v_commitment", scalarBytes), single("ssid", scalarBytes)},
		check: func(m proto.Message) error {
			r := m.(*resharing.DGRound1Message)
			return point("ecdsa pub", r.EcdsaPubX, r.EcdsaPubY)
		}})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound2Message1) }, broadcast: true, from: SideNew, to: toNew,
		fields: []fieldBound{single("paillier_n", modulusBytes), named(modProofBound, "modProof"), single("n_tilde", modulusBytes),
			single("h1", modulusBytes), single("h2", modulusBytes), named(dlnProofBound, "dlnproof_1"), named(dlnProofBound, "dlnproof_2")},
		check: func(m proto.Message) error {
			r := m.(*resharing.DGRound2Message1)
			return errors.Join(paillierAndDLN(r.PaillierN, r.NTilde, r.H1, r.H2, r.Dlnproof_1, r.Dlnproof_2), modProof(r.ModProof))
		}})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound2Message2) }, broadcast: true, from: SideNew, to: toOld})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound3Message1) }, from: SideOld, to: toNew,
		fields: []fieldBound{single("share", scalarBytes)},
		check:  func(m proto.Message) error { return nonZeroScalar("share", m.(*resharing.DGRound3Message1).Share) }})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound3Message2) }, broadcast: true, from: SideOld, to: toNew,
		fields: []fieldBound{decommitment("v_decommitment")}})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound4Message1) }, from: SideNew, to: toNew,
		fields: []fieldBound{named(facProofBound, "facProof")},
		check:  func(m proto.Message) error { return facProof(m.(*resharing.DGRound4Message1).FacProof) }})
	addRule(rule{protocol: protocolResharing, new: func() proto.Message { return new(resharing.DGRound4Message2) }, broadcast: true, from: SideNew, to: toOld | toNew})
}

// anyOverhead bounds what the Any wrapper adds to a content: its type
// URL (under 128 bytes for every tss-lib type) and two field headers
// (a tag and a length of at most 4 bytes each).
const anyOverhead = 128 + 2*(1+4)

// maxWire is the largest payload of rule r among parties.
func (r rule) maxWire(parties int) int {
	size := anyOverhead
	for _, f := range r.fields {
		count := max(f.parts, 1)
		if f.decommitment {
			count = 1 + 2*parties
		}
		size += count * (2 + protowire.SizeVarint(uint64(f.max)) + f.max)
	}
	return size
}

// maxPayload is the largest payload any message of v's protocol may have.
func (v validator) maxPayload() int {
	largest := 0
	for _, r := range rules {
		if r.protocol == v.protocol {
			largest = max(largest, r.maxWire(v.parties))
		}
	}
	return largest
}

// check validates one message, returning its content type for the
// rejection count.
func (v validator) check(in Incoming) (string, error) {
	if len(in.Payload) > v.maxPayload() {
		return "unparsed", fmt.Errorf("payload of %d bytes", len(in.Payload))
	}
	var wire anypb.Any
	if err := proto.Unmarshal(in.Payload, &wire); err != nil {
		return "unparsed", fmt.Errorf("not a tss-lib message: %w", err)
	}
	name := wire.MessageName()
	r, ok := rules[name]
	if !ok || r.protocol != v.protocol {
		return "unexpected", fmt.Errorf("%s is no message of this protocol", name)
	}
	kind := string(name.Name())
	if err := v.route(r, in); err != nil {
		return kind, err
	}
	if limit := r.maxWire(v.parties); len(in.Payload) > limit {
		return kind, fmt.Errorf("%s of %d bytes, at most %d", kind, len(in.Payload), limit)
	}
	if len(wire.ProtoReflect().GetUnknown()) > 0 {
		return kind, fmt.Errorf("%s: unknown fields in the wrapper", kind)
	}
	content := r.new()
	if err := proto.Unmarshal(wire.Value, content); err != nil {
		return kind, fmt.Errorf("%s: %w", kind, err)
	}
	if len(content.ProtoReflect().GetUnknown()) > 0 {
		return kind, fmt.Errorf("%s: unknown fields", kind)
	}
	if mc, ok := content.(tsslib.MessageContent); !ok || !mc.ValidateBasic() {
		return kind, fmt.Errorf("%s fails tss-lib's ValidateBasic", kind)
	}
	if err := v.sizes(r, content); err != nil {
		return kind, fmt.Errorf("%s: %w", kind, err)
	}
	if r.check != nil {
		if err := r.check(content); err != nil {
			return kind, fmt.Errorf("%s: %w", kind, err)
		}
	}
	return kind, nil
}

// route checks that the message travels as tss-lib sends that type: a
// broadcast or not, and in a resharing from and to the right sides.
func (v validator) route(r rule, in Incoming) error {
	if in.Broadcast != r.broadcast {
		return fmt.Errorf("broadcast flag %v on a %s", in.Broadcast, r.new().ProtoReflect().Descriptor().Name())
	}
	if v.protocol != protocolResharing {
		if in.FromSide != SideOnly {
			return fmt.Errorf("a side in a single-committee session")
		}
		return nil
	}
	if in.FromSide != r.from || !r.to.has(v.side) {
		return fmt.Errorf("%s from side %d to side %d", r.new().ProtoReflect().Descriptor().Name(), in.FromSide, v.side)
	}
	return nil
}

// sizes applies the rule's field bounds; a field the rule does not name
// must be empty.
func (v validator) sizes(r rule, content proto.Message) error {
	m := content.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if f.Kind() != protoreflect.BytesKind {
			return fmt.Errorf("field %s is not bytes", f.Name())
		}
		j := slices.IndexFunc(r.fields, func(b fieldBound) bool { return b.name == f.Name() })
		if j < 0 {
			if m.Has(f) {
				return fmt.Errorf("field %s is set", f.Name())
			}
			continue
		}
		b := r.fields[j]
		if !f.IsList() {
			if b.repeatedParts {
				return fmt.Errorf("field %s: a single value", f.Name())
			}
			if l := len(m.Get(f).Bytes()); l == 0 || l > b.max {
				return fmt.Errorf("field %s of %d bytes, 1..%d", f.Name(), l, b.max)
			}
			continue
		}
		list := m.Get(f).List()
		switch {
		case b.decommitment:
			// 1 + 2(t+1) values with 0 <= t < parties
			if l := list.Len(); l < 3 || l%2 == 0 || l > 1+2*v.parties {
				return fmt.Errorf("field %s has %d values, a de-commitment of at most %d points", f.Name(), l, v.parties)
			}
		case list.Len() != b.parts:
			return fmt.Errorf("field %s has %d values, want %d", f.Name(), list.Len(), b.parts)
		}
		for k := range list.Len() {
			if l := len(list.Get(k).Bytes()); l == 0 || l > b.max {
				return fmt.Errorf("field %s value %d of %d bytes, 1..%d", f.Name(), k, l, b.max)
			}
		}
	}
	return nil
}

// scalar: a value mod q.
func scalar(name string, b []byte) error {
	if len(b) > scalarBytes || new(big.Int).SetBytes(b).Cmp(curveOrder) >= 0 {
		return fmt.Errorf("%s is not below the group order", name)
	}
	return nil
}

// nonZeroScalar: a value in [1, q), which tss-lib multiplies the
// generator or a point by (a zero gives the point at infinity, and
// tss-lib panics on it).
func nonZeroScalar(name string, b []byte) error {
	if err := scalar(name, b); err != nil {
		return err
	}
	if new(big.Int).SetBytes(b).Sign() == 0 {
		return fmt.Errorf("%s is zero", name)
	}
	return nil
}

// point: affine coordinates of a point on the curve.
func point(name string, x, y []byte) error {
	if len(x) > scalarBytes || len(y) > scalarBytes {
		return fmt.Errorf("%s is not a point on the curve", name)
	}
	// The uncompressed encoding: btcec checks x, y < p and the equation.
	encoded := make([]byte, 65)
	encoded[0] = 0x04
	copy(encoded[33-len(x):33], x)
	copy(encoded[65-len(y):], y)
	if _, err := btcec.ParsePubKey(encoded); err != nil {
		return fmt.Errorf("%s is not a point on the curve", name)
	}
	return nil
}

// modulus: a 2048-bit odd modulus (Paillier N or NTilde). tss-lib's
// keygen checks the bit length in round 2, resharing never; neither
// checks that it is odd before big.Jacobi, which panics on an even one.
func modulus(name string, b []byte) (*big.Int, error) {
	if len(b) != modulusBytes || b[0]&0x80 == 0 || b[len(b)-1]&1 == 0 {
		return nil, fmt.Errorf("%s is not an odd 2048-bit modulus", name)
	}
	return new(big.Int).SetBytes(b), nil
}

var one = big.NewInt(1)

// inGroup: a value in (1, n).
func inGroup(name string, b []byte, n *big.Int) error {
	v := new(big.Int).SetBytes(b)
	if v.Cmp(one) <= 0 || v.Cmp(n) >= 0 {
		return fmt.Errorf("%s is not in (1, %d bits)", name, n.BitLen())
	}
	return nil
}

// paillierAndDLN checks a party's Paillier modulus, its NTilde with h1
// and h2, and the framing of its two DLN proofs: tss-lib parses a
// proof's length prefixes with Int64, so a huge prefix wraps negative
// and slices out of range on the verifier's goroutine.
func paillierAndDLN(paillierN, nTilde, h1, h2 []byte, dln1, dln2 [][]byte) error {
	if _, err := modulus("paillier_n", paillierN); err != nil {
		return err
	}
	nt, err := modulus("n_tilde", nTilde)
	if err != nil {
		return err
	}
	if err := errors.Join(inGroup("h1", h1, nt), inGroup("h2", h2, nt)); err != nil {
		return err
	}
	for i, proof := range [][][]byte{dln1, dln2} {
		if len(proof) != dlnParts {
			return fmt.Errorf("dln proof %d has %d parts", i+1, len(proof))
		}
		for k, part := range proof {
			if k == 0 || k == 1+dlnIterations {
				if new(big.Int).SetBytes(part).Cmp(big.NewInt(dlnIterations)) != 0 {
					return fmt.Errorf("dln proof %d: a part length is not %d", i+1, dlnIterations)
				}
				continue
			}
			if new(big.Int).SetBytes(part).Cmp(nt) >= 0 {
				return fmt.Errorf("dln proof %d: value %d not below NTilde", i+1, k)
			}
		}
	}
	return nil
}

// modProof checks a Paillier-Blum modulus proof's sizes: w, x and z are
// mod N, a and b 81-bit masks.
func modProof(p [][]byte) error {
	if len(p) != modProofParts {
		return fmt.Errorf("mod proof has %d parts", len(p))
	}
	for i, v := range p {
		limit := modulusBytes
		if i == 81 || i == 82 {
			limit = modABytes
		}
		if len(v) > limit {
			return fmt.Errorf("mod proof part %d of %d bytes, at most %d", i, len(v), limit)
		}
	}
	return nil
}

// facProofLimits are the sizes of a no-small-factor proof's parts:
// P, Q, A, B, T mod Ñ; sigma; z1, z2; w1, w2; v.
var facProofLimits = [facProofParts]int{modulusBytes, modulusBytes, modulusBytes, modulusBytes, modulusBytes,
	facSigmaBytes, facZBytes, facZBytes, s2Bytes, s2Bytes, facVBytes}

func facProof(p [][]byte) error {
	if len(p) != facProofParts {
		return fmt.Errorf("fac proof has %d parts", len(p))
	}
	for i, v := range p {
		if len(v) > facProofLimits[i] {
			return fmt.Errorf("fac proof part %d of %d bytes, at most %d", i, len(v), facProofLimits[i])
		}
	}
	return nil
}

// rangeProofLimits: Alice's range proof z, u, w, s, s1, s2.
var rangeProofLimits = [rangeProofParts]int{modulusBytes, ciphertextBytes, modulusBytes, modulusBytes, s1Bytes, s2Bytes}

func rangeProof(p [][]byte) error {
	for i, v := range p {
		if len(v) > rangeProofLimits[i] {
			return fmt.Errorf("range proof part %d of %d bytes, at most %d", i, len(v), rangeProofLimits[i])
		}
	}
	return nil
}

// bobProofLimits: Bob's proof z, z', t, v, w, s, s1, s2, t1, t2, then in
// the proof with check the point u.
var bobProofLimits = [bobWCProofParts]int{modulusBytes, modulusBytes, modulusBytes, ciphertextBytes, modulusBytes, modulusBytes,
	s1Bytes, s2Bytes, t1Bytes, s2Bytes, scalarBytes, scalarBytes}

// bobProof also keeps s1 off multiples of q: the proof with check
// multiplies the generator by s1 mod q, and tss-lib panics on zero.
func bobProof(p [][]byte) error {
	for i, v := range p {
		if len(v) > bobProofLimits[i] {
			return fmt.Errorf("part %d of %d bytes, at most %d", i, len(v), bobProofLimits[i])
		}
	}
	if new(big.Int).Mod(new(big.Int).SetBytes(p[6]), curveOrder).Sign() == 0 {
		return fmt.Errorf("s1 is a multiple of the group order")
	}
	return nil
}
