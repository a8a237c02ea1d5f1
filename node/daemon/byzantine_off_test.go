//go:build !devnet

package daemon

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/metanode/metanode/events"
)

// TestNoByzantineBehaviours: a normal build knows no byzantine behaviour
// and refuses METANODE_DEVNET_BYZANTINE, whatever it names, in one line
// that says how to get a build that plays it.
func TestNoByzantineBehaviours(t *testing.T) {
	if got := Behaviours(); len(got) != 0 || KnownBehaviour("wrong-checksum") {
		t.Fatalf("a normal build knows behaviours %v", got)
	}
	send := func(events.Signed) error { return nil }
	for _, b := range []string{"wrong-checksum", "silent", "no-such"} {
		wrapped, err := byzantine(b, nil, send, slog.Default())
		if err == nil || wrapped != nil {
			t.Fatalf("%s=%s: a normal build accepted it", ByzantineEnv, b)
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, ByzantineEnv) || !strings.Contains(msg, "-tags devnet") {
			t.Fatalf("%s=%s: error %q, want one line naming the variable and -tags devnet", ByzantineEnv, b, msg)
		}
	}
}
