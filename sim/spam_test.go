package sim_test

import (
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/sim"
)

// spamChecks checks what honest logs keep of a spam node's unstaked
// identities: no message but pings, at most one ping and one stake answer
// per identity and stake_recheck; and that no honest node blocked an
// honest node.
func spamChecks(t *testing.T, res *sim.Result, cfg sim.Config) {
	t.Helper()
	known := map[events.PeerID]bool{}
	for i := range res.Nodes {
		known[peerID(t, res, i)] = true
	}
	recheck := cfg.Params().StakeRecheck
	perIdentity := int(cfg.Duration/recheck) + 1 // one per stake_recheck window
	for _, i := range honest(res) {
		pings, answers := map[events.PeerID]int{}, map[events.PeerID]int{}
		for j, ev := range logEvents(t, res, i) {
			if a, ok := ev.(*events.StakeChecked); ok && !known[a.Peer] {
				answers[a.Peer]++
			}
			m, ok := events.SignedOf(ev)
			if !ok || known[m.From] {
				continue
			}
			if m.Type != events.TypePing {
				t.Fatalf("node %d logged a %s message of unstaked %s (record %d)", i, m.Type, m.From.Short(), j+1)
			}
			pings[m.From]++
		}
		if len(pings) == 0 {
			t.Fatalf("node %d logged no ping of a spam identity: no stranger was ever checked", i)
		}
		totalPings, totalAnswers := 0, 0
		for id, n := range pings {
			if n > perIdentity {
				t.Errorf("node %d logged %d pings of %s, want at most %d (one per stake_recheck)", i, n, id.Short(), perIdentity)
			}
			totalPings += n
		}
		for id, n := range answers {
			if n > perIdentity {
				t.Errorf("node %d checked the stake of %s %d times, want at most %d", i, id.Short(), n, perIdentity)
			}
			totalAnswers += n
		}
		if res.Nodes[i].Dropped == 0 {
			t.Errorf("node %d dropped nothing", i)
		}
		t.Logf("node %d: %d spam pings logged, %d stake checks of spam identities, %d messages dropped", i, totalPings, totalAnswers, res.Nodes[i].Dropped)
	}
	for _, b := range res.Blocks {
		if b.Peer >= 0 && len(res.Nodes[b.Peer].Faults) == 0 {
			t.Errorf("honest node %d blocked honest node %d (%s, round %d)", b.By, b.Peer, b.Reason, b.Round)
		}
	}
	verifyLogs(t, res)
	for _, i := range honest(res) {
		if _, hash := foldNode(t, res, i); hash.String() != res.Nodes[i].StateHash {
			t.Errorf("node %d: replay gives %s, the node had %s", i, hash, res.Nodes[i].StateHash)
		}
	}
}

// TestSpam: a node floods every topic every second from 20 unstaked
// identities (more than the 16 strangers checked at once) and its own
// identity floods tss messages for made-up sessions. Honest logs keep at
// most a bounded number of the strangers' pings and nothing else of them,
// rounds sign every minute, and nobody honest is blocked.
func TestSpam(t *testing.T) {
	cfg := sim.Config{Nodes: 6, Threshold: 3, Duration: 6 * time.Minute, Seed: 7, DepositEvery: 15 * time.Second,
		Faults: []sim.Fault{{Behaviour: sim.Spam, Node: 5}}}
	res := run(t, cfg)
	// Every round with transfers signs (L1), none aborts.
	live(t, res, cfg.Threshold)
	if res.WithTransfers == 0 || res.SignedWithTransfers != res.WithTransfers || res.Aborted != 0 {
		t.Fatalf("under spam: %d of %d rounds with transfers signed, %d aborted", res.SignedWithTransfers, res.WithTransfers, res.Aborted)
	}
	spamChecks(t, res, cfg)
}

// TestSpamRealTSS: the same flood with real tss. The spam node's own
// identity is staked, so its tss messages for made-up sessions are logged
// (evidence) and wait in the early buffer, more of them than the buffer's
// global bound within its two minutes; the per-sender bound keeps room for
// the honest parties, whose sessions still sign.
func TestSpamRealTSS(t *testing.T) {
	cfg := sim.Config{Nodes: 5, Threshold: 2, Duration: 4 * time.Minute, TSS: true, DepositEvery: 15 * time.Second, Seed: 7,
		Faults: []sim.Fault{{Behaviour: sim.Spam, Node: 4}}}
	res := run(t, cfg)
	if res.Signed < 2 || res.Signatures == 0 {
		t.Fatalf("under spam with real tss: %d rounds signed, %d signatures", res.Signed, res.Signatures)
	}
	spamChecks(t, res, cfg)
}
