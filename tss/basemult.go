package tss

import (
	"crypto/subtle"
	"sync"

	"github.com/btcsuite/btcd/btcec/v2"
)

// Constant-time k*G on secp256k1, for secret scalars (a share, a share
// proof's nonce). The secp256k1 code we depend on (decred's, through
// btcec) only has variable-time scalar multiplications, whose table
// lookups and additions depend on the scalar's bits; its field
// arithmetic is constant time. So: a fixed 4-bit window over all 64
// nibbles of k, each window's multiple read from a precomputed table by
// scanning every entry with crypto/subtle (no secret-dependent address),
// and added with the complete projective addition of Renes, Costello and
// Batina (eprint 2015/1060, algorithm 7 for a = 0), which has no special
// cases: the same operations whether a point is infinity, equal to the
// accumulator or anything else. 64 additions and one inversion.

// baseEntry is a point of the table, projective (X:Y:Z) with each
// coordinate 32 bytes big-endian; infinity is (0:1:0).
type baseEntry [96]byte

// baseTable[i][j] = j * 16^i * G.
var baseTable = sync.OnceValue(func() *[64][16]baseEntry {
	var table [64][16]baseEntry
	var base btcec.JacobianPoint // 16^i * G
	var one btcec.ModNScalar
	one.SetInt(1)
	btcec.ScalarBaseMultNonConst(&one, &base)
	for i := range table {
		table[i][0] = infinityEntry()
		var p btcec.JacobianPoint
		p.Set(&base)
		for j := 1; j < 16; j++ {
			var a btcec.JacobianPoint
			a.Set(&p)
			a.ToAffine()
			copy(table[i][j][0:32], a.X.Bytes()[:])
			copy(table[i][j][32:64], a.Y.Bytes()[:])
			table[i][j][95] = 1
			var next btcec.JacobianPoint
			btcec.AddNonConst(&p, &base, &next)
			p.Set(&next)
		}
		// p = 16 * base now
		base.Set(&p)
	}
	return &table
})

func infinityEntry() baseEntry {
	var e baseEntry
	e[63] = 1
	return e
}

// projective is a point (X:Y:Z), every coordinate normalized.
type projective struct{ x, y, z btcec.FieldVal }

// scalarBaseMult returns k*G in affine coordinates, normalized, in time
// that does not depend on k. k = 0 gives (0, 0).
func scalarBaseMult(k *btcec.ModNScalar) (x, y btcec.FieldVal) {
	table := baseTable()
	kb := k.Bytes()
	defer clear(kb[:])
	var acc projective
	acc.y.SetInt(1)
	var entry baseEntry
	defer clear(entry[:])
	for i := range 64 {
		nibble := kb[31-i/2] >> (4 * (i % 2)) & 0x0f
		for j := range 16 {
			subtle.ConstantTimeCopy(subtle.ConstantTimeByteEq(uint8(j), nibble), entry[:], table[i][j][:])
		}
		var p projective
		p.x.SetByteSlice(entry[0:32])
		p.y.SetByteSlice(entry[32:64])
		p.z.SetByteSlice(entry[64:96])
		acc = completeAdd(&acc, &p)
	}
	var zInv btcec.FieldVal
	zInv.Set(&acc.z).Inverse()
	x.Mul2(&acc.x, &zInv).Normalize()
	y.Mul2(&acc.y, &zInv).Normalize()
	return x, y
}

// completeAdd is algorithm 7 of Renes-Costello-Batina for a = 0, b = 7.
// Every input and output coordinate has magnitude 1 (normalized), which
// keeps each Mul within decred's magnitude limits.
func completeAdd(p, q *projective) projective {
	var t0, t1, t2, t3, t4, x3, y3, z3 btcec.FieldVal
	mul := func(dst, a, b *btcec.FieldVal) { dst.Mul2(a, b).Normalize() }
	add := func(dst, a, b *btcec.FieldVal) { dst.Add2(a, b).Normalize() }
	sub := func(dst, a, b *btcec.FieldVal) {
		var nb btcec.FieldVal
		nb.NegateVal(b, 1)
		dst.Add2(a, &nb).Normalize()
	}
	b3 := func(dst, a *btcec.FieldVal) { dst.Set(a).MulInt(21).Normalize() }

	mul(&t0, &p.x, &q.x)
	mul(&t1, &p.y, &q.y)
	mul(&t2, &p.z, &q.z)
	add(&t3, &p.x, &p.y)
	add(&t4, &q.x, &q.y)
	mul(&t3, &t3, &t4)
	add(&t4, &t0, &t1)
	sub(&t3, &t3, &t4)
	add(&t4, &p.y, &p.z)
	add(&x3, &q.y, &q.z)
	mul(&t4, &t4, &x3)
	add(&x3, &t1, &t2)
	sub(&t4, &t4, &x3)
	add(&x3, &p.x, &p.z)
	add(&y3, &q.x, &q.z)
	mul(&x3, &x3, &y3)
	add(&y3, &t0, &t2)
	sub(&y3, &x3, &y3)
	add(&x3, &t0, &t0)
	add(&t0, &x3, &t0)
	b3(&t2, &t2)
	add(&z3, &t1, &t2)
	sub(&t1, &t1, &t2)
	b3(&y3, &y3)
	mul(&x3, &t4, &y3)
	mul(&t2, &t3, &t1)
	sub(&x3, &t2, &x3)
	mul(&y3, &y3, &t0)
	mul(&t1, &t1, &z3)
	add(&y3, &t1, &y3)
	mul(&t0, &t0, &t3)
	mul(&z3, &z3, &t4)
	add(&z3, &z3, &t0)
	return projective{x: x3, y: y3, z: z3}
}

// compressedBasePoint returns k*G compressed (33 bytes), in constant time.
func compressedBasePoint(k *btcec.ModNScalar) []byte {
	x, y := scalarBaseMult(k)
	out := make([]byte, 33)
	out[0] = 0x02 | byte(y.IsOddBit())
	x.PutBytesUnchecked(out[1:])
	return out
}
