package events

import (
	"crypto/sha512"
	"encoding/binary"
	"math/bits"

	"golang.org/x/crypto/argon2"
)

// Proof of work of swap intents (docs/protocol.md, Transfers). A KVEntry
// is valid when argon2id(input, salt, t, m, 1 lane, 32 bytes) has at
// least IntentPoWBits leading zero bits, where input binds the intent
// and the nonce:
//
//	"metanode/v1/intent-pow" || 0x00 || be64(amount) || be32(len(intent)) || intent || nonce
//
// The salt is the fixed domain string, so the work is bound to this
// protocol; one lane, so the result does not depend on the machine.
const (
	intentPoWDomain = "metanode/v1/intent-pow"
	// MaxIntentNonce bounds the nonce: 8 bytes count far beyond any
	// difficulty, and a longer one only makes receivers hash more.
	MaxIntentNonce = 32
)

func intentPoWInput(amount uint64, intent, nonce []byte) []byte {
	b := make([]byte, 0, len(intentPoWDomain)+1+8+4+len(intent)+len(nonce))
	b = append(b, intentPoWDomain...)
	b = append(b, 0)
	b = binary.BigEndian.AppendUint64(b, amount)
	b = binary.BigEndian.AppendUint32(b, uint32(len(intent)))
	b = append(b, intent...)
	return append(b, nonce...)
}

func intentPoWHash(p Params, amount uint64, intent, nonce []byte) []byte {
	return argon2.IDKey(intentPoWInput(amount, intent, nonce), []byte(intentPoWDomain), p.IntentPoWTime, p.IntentPoWMemoryKiB, 1, 32)
}

func leadingZeroBits(b []byte) int {
	n := 0
	for _, x := range b {
		if x != 0 {
			return n + bits.LeadingZeros8(x)
		}
		n += 8
	}
	return n
}

// VerifyIntentPoW reports whether kv's nonce is a valid proof of work
// under the genesis parameters. It is a pure computation (one argon2id
// evaluation), so projections may call it.
func VerifyIntentPoW(p Params, kv *KVEntry) bool {
	if len(kv.Nonce) > MaxIntentNonce || p.IntentPoWTime == 0 || p.IntentPoWMemoryKiB == 0 {
		return false
	}
	return leadingZeroBits(intentPoWHash(p, kv.Amount, kv.Intent, kv.Nonce)) >= int(p.IntentPoWBits)
}

// MineIntentPoW sets kv.Nonce to the first valid nonce counting up from
// start (8 bytes, big-endian): deterministic, so a seeded simulation
// stays reproducible. It returns how many nonces it tried.
func MineIntentPoW(p Params, kv *KVEntry, start uint64) int {
	if p.IntentPoWTime == 0 || p.IntentPoWMemoryKiB == 0 || p.IntentPoWBits > 32 {
		return 0 // no nonce can be valid: do not loop forever
	}
	for i := uint64(0); ; i++ {
		kv.Nonce = binary.BigEndian.AppendUint64(kv.Nonce[:0], start+i)
		if VerifyIntentPoW(p, kv) {
			return int(i + 1)
		}
	}
}

// IntentID names a swap intent: H(domain || body), the body exactly as
// signed. The same body signed by two peers is one intent (a user may
// hand it to several nodes); a new nonce makes a new intent.
func IntentID(body []byte) Hash {
	return sha512.Sum512_256(append([]byte("metanode/v1/intent\x00"), body...))
}
