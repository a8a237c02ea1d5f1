package net

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/metanode/metanode/events"
)

// The wire frame of one envelope, on gossip and on direct streams alike:
//
//	version (1 byte, frameVersion) | nonce (8 bytes, big endian) | events.Marshal(Signed)
//
// The nonce exists for gossip: pubsub's message id is the hash of the
// frame (messageID), and pubsub drops a message id it has seen in the last
// 120 s. A node retransmits byte-identical envelopes on purpose
// (node/resend.go), so every publish gets a fresh nonce and a new message
// id, while the envelope inside stays exactly as signed. Receivers drop
// repeats of an envelope they have logged already (node.dedupedTypes).
const (
	frameVersion = 1
	frameHeader  = 1 + 8
)

// envelopeOverhead bounds what an envelope adds to its body in a frame:
// the frame header, msgpack's map and field headers, the type, the sender
// (a 38-byte Ed25519 peer id) and the 64-byte signature, with room to spare.
const envelopeOverhead = 1 << 10

var errFrame = errors.New("malformed frame")

// encodeFrame returns m framed with nonce.
func encodeFrame(nonce uint64, m *events.Signed) ([]byte, error) {
	buf := make([]byte, frameHeader, frameHeader+len(m.Body)+len(m.Sig)+len(m.Type)+len(m.From)+32)
	buf[0] = frameVersion
	binary.BigEndian.PutUint64(buf[1:frameHeader], nonce)
	return events.Marshal(buf, m)
}

// decodeFrame returns the envelope in a frame. It never panics and
// allocates no more than the frame's own size (events.Unmarshal checks
// every declared length against the bytes that follow).
func decodeFrame(data []byte) (events.Signed, error) {
	var m events.Signed
	if len(data) < frameHeader {
		return m, fmt.Errorf("%w: %d bytes", errFrame, len(data))
	}
	if data[0] != frameVersion {
		return m, fmt.Errorf("%w: version %d", errFrame, data[0])
	}
	if err := events.Unmarshal(data[frameHeader:], &m); err != nil {
		return events.Signed{}, fmt.Errorf("%w: %w", errFrame, err)
	}
	return m, nil
}
