package sim

import (
	"crypto/ed25519"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

// IdentitySeed is node i's Ed25519 identity seed in a run of seed: what a
// thief of its decrypted identity key holds.
func IdentitySeed(seed uint64, i int) []byte {
	return derive("sim-identity", seed, i)[:ed25519.SeedSize]
}

// SessionKeyOf is node i's ephemeral sealing key for a session in a run
// of seed, drawn again: what the node erased when the session ended.
func SessionKeyOf(seed uint64, i int, session events.Hash) (*tss.SessionKey, error) {
	return tss.NewSessionKey(sealRandOf(seed, i, session))
}
