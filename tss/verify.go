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
