package tss

import (
	"crypto/sha256"
	"encoding/binary"
	"io"

	"golang.org/x/crypto/hkdf"
)

// hkdfInfo encodes an HKDF info string (or AEAD associated data): the
// label of one use, then each part, every one preceded by its length
// (4 bytes, big endian), so no two different lists of parts encode alike
// and no use's key can be another's.
func hkdfInfo(label string, parts ...[]byte) []byte {
	n := 4 + len(label)
	for _, p := range parts {
		n += 4 + len(p)
	}
	b := make([]byte, 0, n)
	b = binary.BigEndian.AppendUint32(b, uint32(len(label)))
	b = append(b, label...)
	for _, p := range parts {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// deriveKey expands secret into a 32-byte key for the use label names
// (HKDF-SHA256, info hkdfInfo(label, parts...)).
func deriveKey(secret []byte, label string, parts ...[]byte) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, secret, nil, hkdfInfo(label, parts...)), key); err != nil {
		return nil, err
	}
	return key, nil
}
