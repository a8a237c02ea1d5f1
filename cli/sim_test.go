package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/metanode/metanode/devnet"
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

// TestDevnetRefuses: the devnet's inputs are checked before any process
// starts (the devnet itself runs real processes: devnet/e2e_test.go).
func TestDevnetRefuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "devnet")
	unknown := "unknown behaviour"
	if len(devnet.Behaviours()) == 0 {
		unknown = "-tags devnet" // a normal build has none to play
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--nodes", "6"}, "test keys are for committees of 5, 7 and 10"},
		{[]string{"--byzantine", "sneaky@1"}, unknown},
		{[]string{"--byzantine", "silent@9"}, "0 <= INDEX < 5"},
	} {
		if _, err := run(t, append([]string{"devnet", "--dir", dir}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("devnet %v: %v, want %q", tc.args, err, tc.want)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "node-0"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, "devnet", "--dir", dir); err == nil || !strings.Contains(err.Error(), "--fresh") {
		t.Fatalf("a devnet over an earlier one: %v", err)
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
