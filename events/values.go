package events

import (
	"encoding/hex"
	"time"
)

// Time is a point in time as unix nanoseconds (UTC). Events never carry a
// time.Time: its encoding depends on the location, and an integer makes the
// codec byte-for-byte deterministic.
type Time int64

// TimeOf converts a time.Time.
func TimeOf(t time.Time) Time { return Time(t.UnixNano()) }

// Std converts to a time.Time in UTC.
func (t Time) Std() time.Time { return time.Unix(0, int64(t)).UTC() }

// Add returns t+d.
func (t Time) Add(d time.Duration) Time { return t + Time(d) }

// Sub returns t-u.
func (t Time) Sub(u Time) time.Duration { return time.Duration(t - u) }

func (t Time) String() string { return t.Std().Format(time.RFC3339Nano) }

// PeerID is a libp2p peer id in its binary form (the multihash of the
// node's Ed25519 identity key). It converts to and from libp2p's peer.ID,
// which is also a string of those bytes.
type PeerID string

// Short is a short hex prefix for human output.
func (p PeerID) Short() string {
	h := hex.EncodeToString([]byte(p))
	if len(h) > 12 {
		return h[len(h)-12:]
	}
	return h
}

// Hash is a SHA-512/256 digest, the protocol's H.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports an unset hash (msgpack's omitempty asks it).
func (h Hash) IsZero() bool { return h == Hash{} }
