package sim_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/sim"
)

// TestReplicaFailover runs node 0 as three raft replicas on loopback TCP
// in a realistic network and takes its leader away 20 times at random
// moments: killed before an append is proposed, killed after it
// committed and before the node could send what it logged, mid-session,
// or cut off by a partition. Afterwards every committed event is in every
// replica's log, the logs are identical, no session started twice, node
// 0 never published two different messages for one type and round, a
// cut-off replica sent nothing, and the network went on signing with
// node 0 in it.
func TestReplicaFailover(t *testing.T) {
	for _, seed := range []uint64{3, 4} {
		t.Run("seed-"+string(rune('0'+seed)), func(t *testing.T) {
			replicaFailover(t, seed)
		})
	}
}

func replicaFailover(t *testing.T, seed uint64) {
	const failovers = 20
	cfg := sim.Config{Nodes: 5, Threshold: 2, Seed: seed, Duration: 26 * time.Minute, Dir: t.TempDir(), Replicas: 3}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 11))
	start := s.Now()
	end := start.Add(cfg.Duration)
	// the failovers fall in the first 22 minutes, one every ~60 s of
	// virtual time at a random second; the last 4 minutes show whether
	// the network still signs with node 0
	var at []time.Time
	for i := range failovers {
		at = append(at, start.Add(time.Minute+time.Duration(i)*63*time.Second+time.Duration(rng.IntN(40))*time.Second))
	}
	midSession := 0
	signedBefore := 0
	for s.Now().Before(end) {
		if len(at) > 0 && !s.Now().Before(at[0]) {
			// prefer a moment when node 0 has a session running
			if s.NodeZeroBusy() || s.Now().Sub(at[0]) > 20*time.Second {
				if s.NodeZeroBusy() {
					midSession++
				}
				at = at[1:]
				switch k := rng.IntN(5); k {
				case 0:
					s.PartitionLeader()
				case 1:
					s.FlapLeader(rng.IntN(12))
				default:
					s.KillLeader(rng.IntN(12), k == 2)
				}
			}
		}
		if len(at) == 0 && signedBefore == 0 {
			signedBefore = signedRounds(s)
		}
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
	}
	report, err := s.CheckReplicas()
	if err != nil {
		t.Fatal(err)
	}
	res := s.Result()
	t.Logf("kills %d, partitions %d, flaps %d, mid-session %d, committed appends %d, failovers (wall) %v, rounds signed %d (%d after the last failover)",
		report.Kills, report.Partitions, report.Flaps, midSession, report.Committed, report.Failovers, res.Signed, res.Signed-signedBefore)
	if got := report.Kills + report.Partitions + report.Flaps; got < failovers {
		t.Errorf("%d kills, partitions and flaps happened, want %d", got, failovers)
	}
	if len(report.Failovers) < failovers {
		t.Errorf("%d failovers, want %d", len(report.Failovers), failovers)
	}
	if midSession == 0 {
		t.Error("no failover fell while node 0 had a session running")
	}
	if report.SessionsStartedTwice != 0 {
		t.Errorf("%d sessions of node 0 started twice", report.SessionsStartedTwice)
	}
	if report.DoubleSent != 0 {
		t.Errorf("node 0 published two different messages for one type and round %d times", report.DoubleSent)
	}
	if report.SentWhileCut != 0 {
		t.Errorf("cut-off replicas published %d messages", report.SentWhileCut)
	}
	if res.ConflictingStarts != 0 {
		t.Errorf("%d rounds started two different signing sessions", res.ConflictingStarts)
	}
	if res.Signed-signedBefore < 2 {
		t.Errorf("%d rounds signed after the last failover, want at least 2", res.Signed-signedBefore)
	}
	if !nodeZeroSignedLately(res) {
		t.Error("node 0 was in no threshold set of the last rounds")
	}
}

func signedRounds(s *sim.Sim) int { return s.Result().Signed }

func nodeZeroSignedLately(res *sim.Result) bool {
	rounds := res.Rounds
	if len(rounds) > 4 {
		rounds = rounds[len(rounds)-4:]
	}
	for _, r := range rounds {
		if r.Outcomes["signed"] > 0 && slices.Contains(r.Set, 0) {
			return true
		}
	}
	return false
}
