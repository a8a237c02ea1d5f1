package testkeys_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/metanode/metanode/"

// production are the packages a node runs: what `metanode init` and
// `metanode run` are made of (the CLI binary also carries the devnet, the
// simulator and the benchmarks, which may use test material).
var production = []string{
	"events", "projections", "replay", "net", "tss", "chain", "chain/devchain",
	"node", "node/api", "node/metrics", "node/daemon", "internal/durable",
}

// testOnly are packages of test material: keys whose every share is
// public, byzantine helpers, test fixtures and harnesses.
var testOnly = []string{
	"tss/testkeys", "tss/tsstest", "events/eventstest", "node/internal/nodetest", "sim", "devnet", "bench",
}

// goList runs `go list` with args and returns its output lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr string
		if exit, ok := err.(*exec.ExitError); ok {
			stderr = string(exit.Stderr)
		}
		t.Fatalf("go list %v: %v\n%s", args, err, stderr)
	}
	return strings.Fields(string(out))
}

// TestProductionLeavesTestMaterialOut: no production package depends on
// the test keys, the byzantine tss helpers or any other test package, in
// a normal build or a devnet one; and a normal build of the daemon holds
// none of its byzantine behaviours (they are built with -tags devnet
// only).
func TestProductionLeavesTestMaterialOut(t *testing.T) {
	pkgs := make([]string, len(production))
	for i, p := range production {
		pkgs[i] = module + p
	}
	for _, tags := range [][]string{nil, {"-tags", "devnet"}} {
		deps := goList(t, slices.Concat(tags, []string{"-deps", "-f", "{{.ImportPath}}"}, pkgs)...)
		if !slices.Contains(deps, module+"tss") || !slices.Contains(deps, module+"node/daemon") {
			t.Fatalf("go list %v: the production packages are not among their own dependencies: %v", tags, deps)
		}
		for _, dep := range deps {
			for _, test := range testOnly {
				if dep == module+test {
					t.Errorf("go list %v: a production package depends on %s", tags, dep)
				}
			}
		}
	}
	files := func(tags ...string) []string {
		return goList(t, slices.Concat(tags, []string{"-f", "{{join .GoFiles \" \"}}", module + "node/daemon"})...)
	}
	if normal := files(); slices.Contains(normal, "byzantine.go") || !slices.Contains(normal, "byzantine_off.go") {
		t.Errorf("a normal build of node/daemon holds %v: want byzantine_off.go, not byzantine.go", normal)
	}
	if devnet := files("-tags", "devnet"); !slices.Contains(devnet, "byzantine.go") || slices.Contains(devnet, "byzantine_off.go") {
		t.Errorf("a devnet build of node/daemon holds %v: want byzantine.go, not byzantine_off.go", devnet)
	}
}
