package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestSimAuditQuery runs a small simulation through the CLI and reads its
// logs back with replay, replay --verify, query and audit.
func TestSimAuditQuery(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	text, err := run(t, "sim", "--nodes", "5", "--threshold", "2", "--seed", "3", "--duration", "6m",
		"--byzantine", "wrong-checksum@0,equivocate@4", "--out", out, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Signed    int `json:"rounds_signed"`
		Conflicts int `json:"conflicting_starts"`
		Nodes     []struct {
			StateHash string `json:"state_hash"`
		} `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(text), &res); err != nil {
		t.Fatalf("%v in %s", err, text)
	}
	if res.Signed == 0 || res.Conflicts != 0 {
		t.Fatalf("sim: %+v", res)
	}
	log := filepath.Join(out, "node-2", "log")

	text, err = run(t, "replay", "--json", "--log", log)
	if err != nil || !strings.Contains(text, res.Nodes[2].StateHash) {
		t.Fatalf("replay does not give the sim's state hash %s:\n%s %v", res.Nodes[2].StateHash, text, err)
	}
	if text, err = run(t, "replay", "--verify", "--log", log); err != nil || !strings.HasPrefix(text, "ok: ") {
		t.Fatalf("replay --verify: %s %v", text, err)
	}

	text, err = run(t, "query", "rounds", "--json", "--log", log)
	if err != nil {
		t.Fatal(err)
	}
	var rounds []struct {
		Round   int64  `json:"round"`
		Outcome string `json:"outcome"`
		Reason  string `json:"reason"`
	}
	if err := json.Unmarshal([]byte(text), &rounds); err != nil {
		t.Fatal(err)
	}
	var aborted int64
	for _, r := range rounds {
		if r.Outcome == "aborted" && strings.HasPrefix(r.Reason, "checksum outlier") {
			aborted = r.Round
		}
	}
	if aborted == 0 {
		t.Fatalf("no round aborted by the outlier: %s", text)
	}

	// The form of the issue: the round first, flags after it.
	text, err = run(t, "audit", "round", strconv.FormatInt(aborted, 10), "--log", log)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"aborted: checksum outlier", "proposals", "signing sets", "ranking of docs", "threshold set:", "MISMATCH", "outliers (blocked)"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit lacks %q:\n%s", want, text)
		}
	}
	text, err = run(t, "query", "blocks", "--log", log)
	if err != nil || !strings.Contains(text, "checksum outlier") || !strings.Contains(text, "equivocation") {
		t.Fatalf("query blocks:\n%s %v", text, err)
	}
	if _, err := run(t, "audit", "round", "12", "--log", log); err == nil {
		t.Fatal("audit of a round the log never saw succeeded")
	}
}

func TestDevnet(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "devnet")
	text, err := run(t, "devnet", "--dir", dir, "--duration", "4m", "--speed", "1000000", "--status-every", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "rounds: ") || strings.Count(text, "node-3") < 4 {
		t.Fatalf("devnet output:\n%s", text)
	}
	if text, err = run(t, "replay", "--verify", "--log", filepath.Join(dir, "node-1", "log")); err != nil {
		t.Fatalf("the devnet's log does not verify: %s %v", text, err)
	}
	if _, err := run(t, "devnet", "--dir", dir, "--duration", "1m"); err == nil || !strings.Contains(err.Error(), "--fresh") {
		t.Fatalf("a second devnet over the first: %v", err)
	}
	if _, err := run(t, "devnet", "--dir", dir, "--fresh", "--duration", "1m", "--speed", "1000000"); err != nil {
		t.Fatalf("--fresh: %v", err)
	}
}

// TestAuditTSSCulprit: a real-tss run with a share-corrupting signer;
// the audit of the aborted round shows its session's trail down to the
// culprit tss-lib named.
func TestAuditTSSCulprit(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	if _, err := run(t, "sim", "--nodes", "5", "--threshold", "2", "--duration", "3m", "--tss", "--deposit-every", "15s",
		"--byzantine", "corrupt-share@1", "--out", out); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(out, "node-0", "log")
	text, err := run(t, "query", "rounds", "--json", "--log", log)
	if err != nil {
		t.Fatal(err)
	}
	var rounds []struct {
		Round   int64  `json:"round"`
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal([]byte(text), &rounds); err != nil {
		t.Fatal(err)
	}
	for _, r := range rounds {
		if !strings.HasPrefix(r.Outcome, "aborted") { // the current round says "aborted (current)"
			continue
		}
		text, err := run(t, "audit", "round", strconv.FormatInt(r.Round, 10), "--log", log)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"aborted: tss session failed", "tss signing session", "tss messages:", "failed, culprits ["} {
			if !strings.Contains(text, want) {
				t.Errorf("audit lacks %q:\n%s", want, text)
			}
		}
		return
	}
	t.Fatalf("node 0 saw no round abort: %s", text)
}
