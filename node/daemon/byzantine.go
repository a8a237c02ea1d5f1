//go:build devnet

package daemon

import (
	"crypto/sha512"
	"fmt"
	"log/slog"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
)

// A devnet binary (go build -tags devnet; make devnet) can play some of
// the simulator's byzantine behaviours at its transport, to test the
// network against real faulty processes. A normal build has none
// (byzantine_off.go).

// Behaviours a devnet node can play.
var behaviours = map[string]string{
	"silent":         "sends nothing at all",
	"tss-silent":     "sends no tss messages",
	"wrong-checksum": "sends checksums whose sum is wrong (a provable lie: every node blocks it)",
}

// Behaviours lists the known byzantine behaviours, sorted.
func Behaviours() []string {
	out := make([]string, 0, len(behaviours))
	for b := range behaviours {
		out = append(out, b)
	}
	slices.Sort(out)
	return out
}

// KnownBehaviour reports whether b is a behaviour.
func KnownBehaviour(b string) bool { _, ok := behaviours[b]; return ok }

// byzantine wraps the transport's send with the behaviour
// METANODE_DEVNET_BYZANTINE names.
func byzantine(behaviour string, key crypto.PrivKey, send func(events.Signed) error, log *slog.Logger) (func(events.Signed) error, error) {
	if !KnownBehaviour(behaviour) {
		return nil, fmt.Errorf("%s=%q: unknown behaviour (known: %v)", ByzantineEnv, behaviour, Behaviours())
	}
	log.Warn("byzantine on purpose (devnet build)", "behaviour", behaviour, "what", behaviours[behaviour])
	return (&byzantineSend{behaviour: behaviour, key: key, send: send}).Send, nil
}

// byzantineSend wraps a transport's send with a behaviour.
type byzantineSend struct {
	behaviour string
	key       crypto.PrivKey
	send      func(events.Signed) error
}

func (b *byzantineSend) Send(m events.Signed) error {
	switch b.behaviour {
	case "silent":
		return nil
	case "tss-silent":
		if m.Type == events.TypeTSS {
			return nil
		}
	case "wrong-checksum":
		if m.Type == events.TypeChecksum {
			var c events.Checksum
			if events.Unmarshal(m.Body, &c) == nil {
				c.Sum = sha512.Sum512_256(c.Sum[:])
				if body, err := events.Marshal(nil, &c); err == nil {
					if resigned, err := net.Sign(b.key, m.Type, body); err == nil {
						m = resigned
					}
				}
			}
		}
	}
	return b.send(m)
}
