package sim_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/metanode/metanode/sim"
)

// seeds is how many seeds every targeted scenario runs over in make test
// (make soak runs more: SOAK_SEEDS).
func seeds() []uint64 {
	n := 5
	if soak := soakSeeds(); soak > 0 {
		n = soak
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(101 + i)
	}
	return out
}

// overSeeds runs a scenario once per seed, each a subtest.
func overSeeds(t *testing.T, cfg sim.Config, check func(t *testing.T, res *sim.Result)) {
	t.Helper()
	for _, seed := range seeds() {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel() // each run has its own directory and world
			c := cfg
			c.Seed = seed
			check(t, run(t, c))
		})
	}
}

// warmUp is how many rounds the peer lists take to fill at the start of
// a run; liveness is judged after it.
const warmUp = 1

// live asserts L1: every round with valid transfers in t+1 honest
// nodes' views signs within two rounds.
func live(t *testing.T, res *sim.Result, threshold int) {
	t.Helper()
	if streak := res.UnsignedStreak(warmUp, threshold+1); streak > 2 {
		t.Fatalf("L1: %d rounds in a row with transfers and no signature (rounds %+v)", streak, res.Rounds)
	}
	if res.Signed == 0 {
		t.Fatal("nothing signed")
	}
}

func blockedByAllHonest(t *testing.T, res *sim.Result, peer int, reason string) {
	t.Helper()
	if got, want := res.BlockedBy(peer, reason), len(honest(res)); got < want {
		t.Fatalf("%d honest nodes blocked node %d for %s, want all %d (blocks %+v)", got, peer, reason, want, res.Blocks)
	}
}

// TestRealisticHonest: under realistic timing (clock offsets, tick
// phases, heavy-tailed delays, per-node chain views) an honest network
// signs every round that has transfers, blocks nobody, and replays.
func TestRealisticHonest(t *testing.T) {
	overSeeds(t, sim.Config{Drop: 0.02}, func(t *testing.T, res *sim.Result) {
		live(t, res, 3)
		if len(res.Blocks) != 0 || res.Aborted > 1 {
			t.Fatalf("honest run: %d aborted, blocks %+v", res.Aborted, res.Blocks)
		}
	})
}

// TestTargetedAdversaries: each targeted behaviour under realistic
// timing, over several seeds; every run also asserts S1 and S2 (run).
func TestTargetedAdversaries(t *testing.T) {
	tests := []struct {
		name  string
		cfg   sim.Config
		check func(t *testing.T, res *sim.Result)
	}{
		{"equivocate-set: every honest node blocks it, rounds sign", sim.Config{Faults: []sim.Fault{{sim.EquivocateSet, 1}}},
			func(t *testing.T, res *sim.Result) {
				blockedByAllHonest(t, res, 1, "equivocation")
				live(t, res, 3)
			}},
		{"equivocate-checksum: every honest node blocks it, rounds sign", sim.Config{Faults: []sim.Fault{{sim.EquivocateChecksum, 0}}},
			func(t *testing.T, res *sim.Result) {
				blockedByAllHonest(t, res, 0, "equivocation")
				live(t, res, 3)
			}},
		{"late-set: views split at the cut-off, nobody is blocked, the splitter is contested and rounds sign",
			sim.Config{Faults: []sim.Fault{{sim.LateSet, 0}}, Duration: 12 * time.Minute},
			func(t *testing.T, res *sim.Result) {
				live(t, res, 3)
			}},
		{"wrong-checksum: a provable lie is blocked by every honest node", sim.Config{Faults: []sim.Fault{{sim.WrongChecksum, 0}}},
			func(t *testing.T, res *sim.Result) {
				blockedByAllHonest(t, res, 0, "checksum outlier")
				live(t, res, 3)
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { overSeeds(t, tc.cfg, tc.check) })
	}
}

// TestTargetedKeygen: commit adversaries in keygen, under realistic
// timing: seven nodes, a committee of six, so a keygen can leave one out.
// L2: the faulty member delays keygen by at most two epochs.
func TestTargetedKeygen(t *testing.T) {
	base := sim.Config{Nodes: 7, Committee: 6, Threshold: 3, KeygenFor: 20 * time.Minute, Duration: 16 * time.Minute}
	tests := []struct {
		name  string
		fault sim.Fault
		check func(t *testing.T, res *sim.Result)
	}{
		{"commit-silent", sim.Fault{Behaviour: sim.CommitSilent, Node: 1}, nil},
		{"commit-wrong", sim.Fault{Behaviour: sim.CommitWrong, Node: 1}, nil},
		{"equivocate-commit", sim.Fault{Behaviour: sim.EquivocateCommit, Node: 1}, func(t *testing.T, res *sim.Result) {
			blockedByAllHonest(t, res, 1, "equivocation")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Faults = []sim.Fault{tc.fault}
			overSeeds(t, cfg, func(t *testing.T, res *sim.Result) {
				keygenWithinTwoEpochs(t, res)
				if tc.check != nil {
					tc.check(t, res)
				}
			})
		})
	}
}

// keygenWithinTwoEpochs asserts L2 for keygen: of the first three
// attempts with a full committee, one succeeds.
func keygenWithinTwoEpochs(t *testing.T, res *sim.Result) {
	t.Helper()
	tried := 0
	for _, a := range res.Attempts {
		if a.Regroup || (a.Outcome == "skipped" && a.Reason != "commits incomplete or mismatched") {
			continue
		}
		tried++
		if a.Outcome == "success" {
			return
		}
		if tried == 3 {
			break
		}
	}
	t.Fatalf("L2: no keygen succeeded within three attempts: %+v", res.Attempts)
}

// TestPartitionL3: a partition splits six nodes three and three, so
// neither side has t+1 = 4; after it heals, rounds sign again within
// three rounds (L3), nobody honest is blocked (run checks S1, S2), over
// several seeds.
func TestPartitionL3(t *testing.T) {
	heal := 5 * time.Minute
	cfg := sim.Config{Duration: 10 * time.Minute, DepositEvery: 20 * time.Second,
		Partitions: []sim.Partition{{From: 2 * time.Minute, Until: heal, Nodes: []int{0, 1, 2}}}}
	overSeeds(t, cfg, func(t *testing.T, res *sim.Result) {
		healRound := sim.Start.Add(heal).Unix() / 60
		for _, r := range res.Rounds {
			if r.Number <= healRound || r.Number > healRound+3 {
				continue
			}
			if r.Outcomes["signed"] > 0 || r.Outcomes["set signing"] > 0 {
				return
			}
		}
		t.Fatalf("L3: no round signed within three rounds of the partition healing (round %d): %+v", healRound, res.Rounds)
	})
}
