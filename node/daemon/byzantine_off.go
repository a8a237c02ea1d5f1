//go:build !devnet

package daemon

import (
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/metanode/metanode/events"
)

// A normal build plays no byzantine behaviour: they live in byzantine.go,
// built only with -tags devnet.

// Behaviours lists the byzantine behaviours this binary can play: none.
func Behaviours() []string { return nil }

// KnownBehaviour reports whether this binary can play b: never.
func KnownBehaviour(string) bool { return false }

// byzantine refuses METANODE_DEVNET_BYZANTINE: this binary has no faults
// to play, and a node asked to be faulty must not run as an honest one.
func byzantine(behaviour string, _ crypto.PrivKey, _ func(events.Signed) error, _ *slog.Logger) (func(events.Signed) error, error) {
	return nil, fmt.Errorf("%s=%q: this binary has no byzantine behaviours (build it with -tags devnet, as make devnet does)", ByzantineEnv, behaviour)
}
