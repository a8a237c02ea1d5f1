package devnet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/metanode/metanode/devnet"
)

// binary is the metanode executable the tests' processes run, built once
// with -tags devnet: its nodes can play byzantine behaviours.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "metanode-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "metanode")
	if out, err := exec.Command("go", "build", "-tags", "devnet", "-o", binary, "../cmd/metanode").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building metanode: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// setup makes a devnet on a free block of ports.
func setup(t *testing.T, cfg devnet.Config) *devnet.Devnet {
	t.Helper()
	cfg.Binary = binary
	var err error
	for range 10 {
		cfg.Dir = filepath.Join(t.TempDir(), "devnet")
		// below Linux's ephemeral ports (32768-60999), so no outgoing
		// connection takes a node's port between the check and its bind
		cfg.BasePort = 10000 + 400*rand.IntN(50)
		var d *devnet.Devnet
		if d, err = devnet.Setup(cfg); err == nil {
			t.Cleanup(func() { _ = d.Stop() }) // no process outlives a failed test
			return d
		}
	}
	t.Fatal(err)
	return nil
}

// waitFor polls cond every 500 ms until it holds or the time is up.
func waitFor(t *testing.T, d *devnet.Devnet, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			for i := range d.Nodes {
				t.Logf("%s output (end):\n%s", d.Nodes[i].Name, d.LogTail(i, 3000))
			}
			var rounds, blocks json.RawMessage
			_ = d.GetJSON(context.Background(), 1, "/api/v1/rounds?limit=8", &rounds)
			_ = d.GetJSON(context.Background(), 1, "/api/v1/blocks", &blocks)
			t.Logf("node-1 rounds: %s\nnode-1 blocks: %s", rounds, blocks)
			t.Fatalf("not within %v: %s", within, what)
		}
		for i := range d.Nodes {
			if exited, err := d.Exited(i); exited && d.Started(i) {
				t.Fatalf("%s exited (%v) while waiting for %s:\n%s", d.Nodes[i].Name, err, what, d.LogTail(i, 3000))
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
}
