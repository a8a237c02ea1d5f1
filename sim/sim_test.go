package sim_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
	"github.com/metanode/metanode/sim"
	"github.com/metanode/metanode/tss"
)

func run(t *testing.T, cfg sim.Config) *sim.Result {
	t.Helper()
	if cfg.Nodes == 0 {
		cfg.Nodes, cfg.Threshold = 6, 3
	}
	if cfg.Duration == 0 {
		cfg.Duration = 8 * time.Minute
	}
	if cfg.Seed == 0 {
		cfg.Seed = 7
	}
	cfg.Dir = t.TempDir()
	res, err := sim.Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkInvariants(t, res)
	return res
}

// checkInvariants asserts PROTOCOL.md section 7's safety invariants, which
// every scenario must keep: S1, never two different threshold sets start
// signing in one round; S2, no honest node blocks an honest node; S4, a
// key is current at a node only after t+1 members announced it alike.
func checkInvariants(t *testing.T, res *sim.Result) {
	t.Helper()
	if res.ConflictingStarts != 0 {
		t.Fatalf("S1: %d rounds where two different sets started signing", res.ConflictingStarts)
	}
	for _, b := range res.Blocks {
		if b.Peer >= 0 && len(res.Nodes[b.Peer].Faults) == 0 {
			t.Fatalf("S2: honest node %d blocked honest node %d (%s, round %d)", b.By, b.Peer, b.Reason, b.Round)
		}
	}
	for _, i := range honest(res) {
		checkS4(t, res, i)
	}
}

// checkS4 asserts S4 at node i, member or not, from its log alone: each
// time a key becomes current there, t+1 members of that key's committee
// had announced it alike (the same key id and vault address), a key this
// node's own session made (its KeyPublished with a session) counting as
// its own announcement. Only the key the network starts on (a
// KeyPublished without a session) is current at once.
func checkS4(t *testing.T, res *sim.Result, i int) {
	t.Helper()
	store, err := events.Open(filepath.Dir(res.Nodes[i].Log), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// Most runs never change their key: fold only a log that holds a
	// key made by a session or announced.
	made := false
	err = store.Scan(0, 0, func(r events.Record) error {
		switch r.Kind {
		case events.KindKeyAnnouncementReceived:
			made = true
		case events.KindKeyPublished:
			var key events.KeyPublished
			if err := events.Unmarshal(r.Body, &key); err != nil {
				return err
			}
			made = made || !key.Session.IsZero()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !made {
		return
	}
	type alike struct {
		id      events.Hash
		address string
	}
	announced := map[alike][]events.PeerID{}
	note := func(from events.PeerID, key *events.KeyPublished) {
		k := alike{key.KeyID, key.Address}
		if !slices.Contains(announced[k], from) {
			announced[k] = append(announced[k], from)
		}
	}
	state := projections.NewState()
	var current events.Hash
	err = store.ForEach(1, store.LastSeq(), func(seq uint64, ev events.Event) error {
		startKey := false
		switch e := ev.(type) {
		case *events.KeyPublished:
			if startKey = e.Session.IsZero(); !startKey {
				note(state.Summary.NodeID, e)
			}
		case *events.KeyAnnouncementReceived:
			var ann events.KeyAnnouncement
			if events.Unmarshal(e.Msg.Body, &ann) == nil {
				note(e.Msg.From, &ann.Key)
			}
		}
		state.Apply(seq, ev)
		key, ok := state.Keys.Current()
		if !ok || key.KeyID == current {
			return nil
		}
		current = key.KeyID
		if startKey {
			return nil
		}
		members := 0
		for _, p := range announced[alike{key.KeyID, key.Address}] {
			if slices.ContainsFunc(key.SharePoints, func(sp events.SharePoint) bool { return sp.Peer == p }) {
				members++
			}
		}
		if need := state.Summary.Params().Threshold + 1; members < need {
			return fmt.Errorf("S4: node %d made key %s current at seq %d on %d members' announcements alike, want t+1 = %d",
				i, key.KeyID.String()[:12], seq, members, need)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// foldNode replays node i's log.
func foldNode(t *testing.T, res *sim.Result, i int) (*projections.State, events.Hash) {
	t.Helper()
	store, err := events.Open(filepath.Dir(res.Nodes[i].Log), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	state := projections.NewState()
	out, err := replay.Run(store, state, replay.Until{})
	if err != nil {
		t.Fatal(err)
	}
	return state, out.StateHash
}

func honest(res *sim.Result) []int {
	var out []int
	for _, n := range res.Nodes {
		if len(n.Faults) == 0 {
			out = append(out, n.Index)
		}
	}
	return out
}

func peerID(t *testing.T, res *sim.Result, i int) events.PeerID {
	t.Helper()
	var b []byte
	if _, err := fmt.Sscanf(res.Nodes[i].ID, "%x", &b); err != nil {
		t.Fatal(err)
	}
	return events.PeerID(b)
}

func TestHonestRunSignsAndReplays(t *testing.T) {
	res := run(t, sim.Config{DepositEvery: 20 * time.Second})
	if res.Signed < 3 || res.Aborted != 0 || len(res.Blocks) != 0 {
		t.Fatalf("honest run: %d signed, %d aborted, %d blocks", res.Signed, res.Aborted, len(res.Blocks))
	}
	cooldowns := 0
	for _, n := range res.Nodes {
		if n.PeersListed != len(res.Nodes) {
			t.Errorf("node %d lists %d peers, want all %d", n.Index, n.PeersListed, len(res.Nodes))
		}
		state, hash := foldNode(t, res, n.Index)
		if hash.String() != n.StateHash {
			t.Errorf("node %d: replay gives %s, the sim reported %s", n.Index, hash, n.StateHash)
		}
		for _, h := range state.Rounds.History() {
			if h.Cooldown {
				cooldowns++
				// Cooldown comes from seeing the set sign: only nodes
				// outside the threshold set enter it this way.
				if slices.Contains(h.Set, peerID(t, res, n.Index)) {
					t.Errorf("node %d: cooldown in round %d though it signs", n.Index, h.Number)
				}
			}
		}
	}
	if cooldowns == 0 {
		t.Fatal("no node outside a threshold set saw t+1 peers signing and cooled down")
	}
}

// TestReproducible: the same seed gives the same logs, record for record.
func TestReproducible(t *testing.T) {
	cfg := sim.Config{Faults: []sim.Fault{{Behaviour: sim.Equivocate, Node: 2}}, Drop: 0.05}
	a, b := run(t, cfg), run(t, cfg)
	for i := range a.Nodes {
		if a.Nodes[i].StateHash != b.Nodes[i].StateHash {
			t.Fatalf("node %d: state %s vs %s", i, a.Nodes[i].StateHash, b.Nodes[i].StateHash)
		}
		ra, rb := records(t, a.Nodes[i].Log), records(t, b.Nodes[i].Log)
		if len(ra) != len(rb) {
			t.Fatalf("node %d: %d vs %d records", i, len(ra), len(rb))
		}
		for j := range ra {
			if !bytes.Equal(ra[j], rb[j]) {
				t.Fatalf("node %d: record %d differs", i, j+1)
			}
		}
	}
	cfg.Seed = 8
	if c := run(t, cfg); c.Nodes[0].StateHash == a.Nodes[0].StateHash {
		t.Fatal("another seed gave the same run")
	}
}

func records(t *testing.T, logFile string) [][]byte {
	t.Helper()
	store, err := events.Open(filepath.Dir(logFile), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var out [][]byte
	err = store.Scan(0, 0, func(r events.Record) error {
		out = append(out, events.AppendRecord(nil, r.Seq, r.Kind, r.Body))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestByzantine: every untargeted behaviour under realistic timing, over
// several seeds.
func TestByzantine(t *testing.T) {
	tests := []struct {
		name   string
		faults []sim.Fault
		check  func(t *testing.T, res *sim.Result)
	}{
		{"equivocating proposals are blocked", []sim.Fault{{sim.Equivocate, 1}}, func(t *testing.T, res *sim.Result) {
			if got := res.BlockedBy(1, "equivocation"); got != len(honest(res)) {
				t.Fatalf("%d honest nodes blocked the equivocator, want all %d", got, len(honest(res)))
			}
		}},
		{"forged signatures are dropped unlogged", []sim.Fault{{sim.Forge, 1}}, func(t *testing.T, res *sim.Result) {
			for _, i := range honest(res) {
				if res.Nodes[i].Dropped == 0 {
					t.Fatalf("node %d dropped nothing", i)
				}
			}
		}},
		{"replayed pings are rejected", []sim.Fault{{sim.Replay, 1}}, func(t *testing.T, res *sim.Result) {
			state, _ := foldNode(t, res, 0)
			ps, ok := state.Peers.Get(peerID(t, res, 1))
			if !ok || ps.Rejected == 0 || state.Peers.Verdicts()[projections.PingReplayed] == 0 {
				t.Fatalf("no replayed ping rejected: %+v", ps)
			}
		}},
		{"a stake too young is never listed", []sim.Fault{{sim.YoungStake, 1}}, func(t *testing.T, res *sim.Result) {
			state, _ := foldNode(t, res, 0)
			ps, _ := state.Peers.Get(peerID(t, res, 1))
			if problem := state.Peers.StakeProblem(ps); !strings.Contains(problem, "too young") {
				t.Fatalf("stake problem %q", problem)
			}
			if res.Nodes[0].PeersListed != len(res.Nodes)-1 {
				t.Fatalf("node 0 lists %d peers", res.Nodes[0].PeersListed)
			}
		}},
		{"a moved stake drops the peer", []sim.Fault{{sim.MovedStake, 1}}, func(t *testing.T, res *sim.Result) {
			state, _ := foldNode(t, res, 0)
			ps, _ := state.Peers.Get(peerID(t, res, 1))
			if !ps.Moved || state.Peers.StakeProblem(ps) != "stake moved" {
				t.Fatalf("moved=%t problem %q", ps.Moved, state.Peers.StakeProblem(ps))
			}
		}},
		{"a cloned share is pruned", []sim.Fault{{sim.Clone, 1}}, func(t *testing.T, res *sim.Result) {
			state, _ := foldNode(t, res, 2)
			clone, original := peerID(t, res, 1), peerID(t, res, 0)
			pruned := 0
			for _, h := range state.Rounds.History() {
				for _, p := range h.Pruned {
					if p.Peer == clone && p.Senior == original {
						pruned++
					}
				}
				if containsBoth(h.Set, clone, original) {
					t.Fatalf("round %d: threshold set holds the share twice", h.Number)
				}
			}
			if pruned == 0 {
				t.Fatal("the clone was never pruned")
			}
		}},
		{"a wrong checksum is an outlier: blocked, round aborted, then signing resumes", []sim.Fault{{sim.WrongChecksum, 0}}, func(t *testing.T, res *sim.Result) {
			if res.Aborted == 0 || res.BlockedBy(0, "checksum outlier") == 0 {
				t.Fatalf("aborted %d, outlier blocks %d", res.Aborted, res.BlockedBy(0, "checksum outlier"))
			}
			if res.Signed == 0 {
				t.Fatal("no round signed without the outlier")
			}
		}},
		{"signing sets under threshold are ignored", []sim.Fault{{sim.SmallSets, 0}}, func(t *testing.T, res *sim.Result) {
			state, _ := foldNode(t, res, 2)
			small := peerID(t, res, 0)
			for _, h := range state.Rounds.History() {
				for _, p := range h.Set {
					if p == small {
						t.Fatalf("round %d: a peer with an under-threshold set is in the threshold set", h.Number)
					}
				}
			}
			if res.Signed == 0 {
				t.Fatal("nothing signed")
			}
		}},
		{"a silent node expires and the rest sign", []sim.Fault{{sim.Silent, 1}}, func(t *testing.T, res *sim.Result) {
			if res.Nodes[0].PeersListed != len(res.Nodes)-1 || res.Signed == 0 {
				t.Fatalf("listed %d, signed %d", res.Nodes[0].PeersListed, res.Signed)
			}
		}},
		{"two at once: equivocation and silence", []sim.Fault{{sim.Equivocate, 1}, {sim.Silent, 2}}, func(t *testing.T, res *sim.Result) {
			if res.BlockedBy(1, "equivocation") != len(honest(res)) || res.Nodes[0].PeersListed != len(res.Nodes)-2 || res.Signed == 0 {
				t.Fatalf("blocks %d, listed %d, signed %d", res.BlockedBy(1, "equivocation"), res.Nodes[0].PeersListed, res.Signed)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			overSeeds(t, sim.Config{Faults: tc.faults}, tc.check)
		})
	}
}

func containsBoth(set []events.PeerID, a, b events.PeerID) bool {
	var hasA, hasB bool
	for _, p := range set {
		hasA = hasA || p == a
		hasB = hasB || p == b
	}
	return hasA && hasB
}

// TestPartitionHeals: while nodes 0 and 1 are cut off the other four
// (t+1 = 4) can still reach a threshold set; after the partition heals
// everyone lists everyone again and rounds sign.
func TestPartitionHeals(t *testing.T) {
	res := run(t, sim.Config{Duration: 12 * time.Minute,
		Partitions: []sim.Partition{{From: 2 * time.Minute, Until: 5 * time.Minute, Nodes: []int{0, 1}}}})
	signedAfter := 0
	for _, r := range res.Rounds {
		if r.Number-res.Rounds[0].Number >= 6 && (r.Outcomes[projections.OutcomeSigned] > 0) {
			signedAfter++
		}
	}
	if signedAfter == 0 {
		t.Fatal("no round signed after the partition healed")
	}
	for _, n := range res.Nodes {
		if n.PeersListed != len(res.Nodes) {
			t.Errorf("node %d lists %d peers after the partition healed", n.Index, n.PeersListed)
		}
	}
}

// TestLightLoss: 2% of messages lost; rounds still sign. (Every proposal,
// set and checksum must arrive for a round to sign: the protocol relies on
// the gossip layer's retransmission.)
// TestLossRecovers: with one message in twenty lost on its way to each
// receiver, proposals, signing sets and checksums are sent again within
// their phases, so rounds with a doc sign, none aborts and no honest node
// is taken for an outlier.
func TestLossRecovers(t *testing.T) {
	res := run(t, sim.Config{Drop: 0.05, Duration: 15 * time.Minute})
	if res.Signed < 5 || res.Aborted != 0 || len(res.Blocks) != 0 {
		t.Fatalf("under 5%% loss: %d signed, %d aborted, blocks %+v", res.Signed, res.Aborted, res.Blocks)
	}
}

// TestLogsVerify: every node's recorded actions are exactly the duties its
// own log called for, byzantine nodes included (they lie on the wire, not
// in their logs).
func TestLogsVerify(t *testing.T) {
	res := run(t, sim.Config{Faults: []sim.Fault{{sim.Equivocate, 1}, {sim.WrongChecksum, 0}}, Drop: 0.01})
	for i, rep := range verifyLogs(t, res) {
		if rep.Duties == 0 || rep.Ticks == 0 {
			t.Fatalf("node %d: nothing checked: %+v", i, rep)
		}
	}
}

// verifyLogs runs replay --verify on every node's log and fails the test
// at the first divergence.
func verifyLogs(t *testing.T, res *sim.Result) []replay.VerifyReport {
	t.Helper()
	var reps []replay.VerifyReport
	for _, n := range res.Nodes {
		store, err := events.Open(filepath.Dir(n.Log), events.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := replay.VerifyDuties(store, replay.Until{})
		store.Close()
		if err != nil {
			t.Fatalf("node %d: %v", n.Index, err)
		}
		reps = append(reps, rep)
	}
	return reps
}

// ownProofs reads node i's log: every ping it sent names the key current
// at that moment, and the share proof it carries, if any, verifies under
// the node's share point of that key. So a member proves its share of a
// new key only once the key is current (S4), never before, and never an
// old share for a new key. It returns the proofs sent per key id.
func ownProofs(t *testing.T, res *sim.Result, i int) map[events.Hash]int {
	t.Helper()
	store, err := events.Open(filepath.Dir(res.Nodes[i].Log), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	proofs := map[events.Hash]int{}
	state := projections.NewState()
	err = store.ForEach(1, store.LastSeq(), func(seq uint64, ev events.Event) error {
		if sent, ok := ev.(*events.MessageSent); ok && sent.Msg.Type == events.TypePing {
			var ping events.Ping
			if err := events.DecodePing(sent.Msg.Body, &ping); err != nil {
				return err
			}
			key, ok := state.Keys.Current()
			if !ok {
				if !ping.KeyID.IsZero() || len(ping.TSSProof) > 0 {
					return fmt.Errorf("node %d: the ping at seq %d names key %s or proves a share, before any key", i, seq, ping.KeyID.String()[:12])
				}
				state.Apply(seq, ev)
				return nil
			}
			if ping.KeyID != key.KeyID {
				return fmt.Errorf("node %d: the ping at seq %d names key %s, not the current key", i, seq, ping.KeyID.String()[:12])
			}
			if len(ping.TSSProof) > 0 {
				point, _ := state.Keys.SharePoint(ping.PeerID)
				ctx := tss.ProofContext{Purpose: tss.ProofForPing, KeyID: ping.KeyID, Peer: ping.PeerID,
					Bucket: projections.PingProofBucket(ping.Time, state.Summary.Params())}
				if !tss.VerifyShare(point, ping.TSSProof, ctx) {
					return fmt.Errorf("node %d: the ping at seq %d proves no share of the current key %s", i, seq, key.KeyID.String()[:12])
				}
				proofs[key.KeyID]++
			}
		}
		state.Apply(seq, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return proofs
}

func attempts(t *testing.T, res *sim.Result, i int) []projections.Attempt {
	t.Helper()
	state, _ := foldNode(t, res, i)
	return state.Committees.History()
}

// TestKeygenThenRegroup: without a key the nodes generate one at the
// first keygen epoch where all are listed; when keygen_until passes the
// key locks and the 00:00 UTC regroup reshares it; rounds sign on it.
func TestKeygenThenRegroup(t *testing.T) {
	res := run(t, sim.Config{KeygenFor: 8 * time.Minute, Duration: 14 * time.Minute})
	var keygen, regroup *projections.Attempt
	for _, a := range attempts(t, res, 0) {
		switch {
		case !a.Regroup && a.Outcome == "success":
			keygen = &a
		case a.Regroup && a.Outcome == "success":
			regroup = &a
		}
	}
	if keygen == nil || regroup == nil {
		t.Fatalf("keygen %v, regroup %v: want both to succeed; attempts %+v", keygen != nil, regroup != nil, attempts(t, res, 0))
	}
	if len(keygen.Committee) != 6 || len(regroup.Old) != 4 || len(regroup.Committee) != 6 {
		t.Fatalf("keygen committee %d, regroup %d -> %d", len(keygen.Committee), len(regroup.Old), len(regroup.Committee))
	}
	// Every member proves its share of each key once it is current, and
	// of no key before (ownProofs); run checked S4 at each node.
	for i := range res.Nodes {
		proofs := ownProofs(t, res, i)
		for _, made := range []*projections.Attempt{keygen, regroup} {
			if proofs[made.Made.KeyID] == 0 {
				t.Errorf("node %d never proved its share of key %s", i, made.Made.KeyID.String()[:12])
			}
		}
	}
	if res.Signed == 0 {
		t.Fatal("nothing signed with the generated key")
	}
	verifyLogs(t, res)
}

// TestRegroupIgnoresLocalBlocks: two colluders block node 5 locally (a
// tss culprit only their own logs claim). Regroup honors only evidence
// every node can verify, so node 5 still enters the new committee, in
// the colluders' view as in everyone's, and the regroup succeeds.
func TestRegroupIgnoresLocalBlocks(t *testing.T) {
	res := run(t, sim.Config{Faults: []sim.Fault{{sim.Frame, 1}, {sim.Frame, 2}}, Duration: 12 * time.Minute})
	target := peerID(t, res, 5)
	for i := range res.Nodes {
		var regroup *projections.Attempt
		for _, a := range attempts(t, res, i) {
			if a.Regroup {
				regroup = &a
			}
		}
		if regroup == nil || regroup.Outcome != "success" {
			t.Fatalf("node %d: regroup %+v", i, regroup)
		}
		if !slices.Contains(regroup.Committee, target) {
			t.Fatalf("node %d: the framed peer is not in the new committee", i)
		}
		state, _ := foldNode(t, res, i)
		framed := false
		for _, b := range state.Blocks.Culprits() {
			if b.Peer == target && b.Reason == projections.BlockCulprit && b.Until > regroup.Start {
				framed = true
			}
		}
		if colluder := i == 1 || i == 2; framed != colluder {
			t.Fatalf("node %d: framed=%t, want %t", i, framed, colluder)
		}
	}
}
