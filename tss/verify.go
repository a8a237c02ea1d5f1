package tss

import (
	"github.com/bnb-chain/tss-lib/v3/crypto"
	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// VerifySignature checks an ECDSA signature (r, s) of digest under a
// tss-lib group public key, with btcec's secp256k1.
func VerifySignature(pub *crypto.ECPoint, digest, r, s []byte) bool {
	if pub == nil || len(r) == 0 || len(r) > 32 || len(s) == 0 || len(s) > 32 {
		return false
	}
	var x, y btcec.FieldVal
	if x.SetByteSlice(pub.X().Bytes()) || y.SetByteSlice(pub.Y().Bytes()) {
		return false
	}
	var rs, ss btcec.ModNScalar
	if rs.SetByteSlice(r) || ss.SetByteSlice(s) {
		return false
	}
	return btcecdsa.NewSignature(&rs, &ss).Verify(digest, btcec.NewPublicKey(&x, &y))
}

// CompactSignature is a signature as metanode logs it: r and s, each 32
// bytes big-endian.
func CompactSignature(r, s []byte) []byte {
	out := make([]byte, 64)
	copy(out[32-min(32, len(r)):32], r)
	copy(out[64-min(32, len(s)):], s)
	return out
}

// VerifyCompact checks a compact signature of digest under a compressed
// secp256k1 group public key, as KeyPublished carries it.
func VerifyCompact(pub, digest, sig []byte) bool {
	key, err := btcec.ParsePubKey(pub)
	if err != nil || len(sig) != 64 {
		return false
	}
	var rs, ss btcec.ModNScalar
	if rs.SetByteSlice(sig[:32]) || ss.SetByteSlice(sig[32:]) {
		return false
	}
	return btcecdsa.NewSignature(&rs, &ss).Verify(digest, key)
}
