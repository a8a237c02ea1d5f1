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
	"github.com/metanode/metanode/sim"
	"github.com/metanode/metanode/tss"
)

// TestRealTSS: 7 nodes holding the committed 7/4 test key sign every
// threshold set's doc with real tss-lib, their tss messages carried,
// sealed and logged like any other; the signatures verify under the
// group key, and with seeded tss-lib randomness two runs of one seed give
// the same logs, record for record, signatures included, but for the
// bytes of tss messages.
func TestRealTSS(t *testing.T) {
	cfg := sim.Config{Nodes: 7, Threshold: 4, Duration: 4 * time.Minute, TSS: true}
	a, b := run(t, cfg), run(t, cfg)
	if a.Signed == 0 || a.Signatures == 0 || a.Signatures%5 != 0 {
		t.Fatalf("signed %d rounds, %d signatures (want whole sessions of 5 signers)", a.Signed, a.Signatures)
	}
	for i := range a.Nodes {
		if a.Nodes[i].StateHash != b.Nodes[i].StateHash {
			t.Fatalf("node %d: runs of one seed differ with real tss", i)
		}
		// Record for record, signatures included, except the bodies of tss
		// messages: tss-lib computes some proofs in goroutines that draw
		// from the seeded reader in scheduling order.
		ea, eb := logEvents(t, a, i), logEvents(t, b, i)
		if len(ea) != len(eb) {
			t.Fatalf("node %d: %d vs %d records", i, len(ea), len(eb))
		}
		for j := range ea {
			if ea[j].Kind() != eb[j].Kind() {
				t.Fatalf("node %d: record %d is a %s in one run, a %s in the other", i, j+1, ea[j].Kind(), eb[j].Kind())
			}
			if m, ok := events.SignedOf(ea[j]); ok && m.Type == events.TypeTSS {
				continue
			}
			ba, _ := events.Marshal(nil, ea[j])
			bb, _ := events.Marshal(nil, eb[j])
			if !bytes.Equal(ba, bb) {
				t.Fatalf("node %d: record %d (%s) differs between runs of one seed", i, j+1, ea[j].Kind())
			}
		}
	}
	state, hash := foldNode(t, a, 0)
	if hash.String() != a.Nodes[0].StateHash {
		t.Fatal("replaying node 0's log gives another state than the node had")
	}
	signed := 0
	for _, h := range state.Rounds.History() {
		if h.Outcome == projections.OutcomeSigned {
			signed++
		}
	}
	if signed == 0 {
		t.Fatal("node 0 never recorded a signed round")
	}
	if kinds := logKinds(t, a, 0); kinds[events.KindTSSMessageReceived] == 0 {
		t.Fatal("node 0 logged no tss message")
	}
	// Point-to-point messages reach the log of their recipient only.
	self := peerID(t, a, 0)
	for j, ev := range logEvents(t, a, 0) {
		if e, ok := ev.(*events.TSSMessageReceived); ok {
			var msg events.TSSMessage
			if err := events.Unmarshal(e.Msg.Body, &msg); err != nil {
				t.Fatal(err)
			}
			if len(msg.To) > 0 && !slices.Contains(msg.To, self) {
				t.Fatalf("seq %d: node 0 logged a tss message for %v", j+1, msg.To)
			}
		}
	}
}

// logEvents reads node i's whole log.
func logEvents(t *testing.T, res *sim.Result, i int) []events.Event {
	t.Helper()
	store, err := events.Open(filepath.Dir(res.Nodes[i].Log), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var out []events.Event
	if err := store.ForEach(1, store.LastSeq(), func(_ uint64, ev events.Event) error { out = append(out, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// logKinds counts node i's events per kind.
func logKinds(t *testing.T, res *sim.Result, i int) map[events.Kind]int {
	t.Helper()
	kinds := map[events.Kind]int{}
	for _, ev := range logEvents(t, res, i) {
		kinds[ev.Kind()]++
	}
	return kinds
}

// TestRealKeygenAndRegroup: six nodes without a key, a committee of
// five, run a real keygen (test key pre-parameters) until keygen_until,
// then the 00:00 UTC regroup reshares the key for real: the group key
// stays, the key id and shares change, and the new committee's shares
// sign (every signature is checked under the group key as it is made).
// The node outside the committee takes each key from the members'
// announcements, and the members too make a key current only on t+1
// announcements alike, their own among them (S4, checked at every node),
// proving their new shares from then on. Every log replays to its
// node's state and passes replay --verify.
func TestRealKeygenAndRegroup(t *testing.T) {
	res := run(t, sim.Config{Nodes: 6, Committee: 5, Threshold: 2, Duration: 12 * time.Minute, KeygenFor: 6 * time.Minute, TSS: true,
		DepositEvery: 15 * time.Second})
	var keygens, regroups int
	for _, a := range res.Attempts {
		if a.Outcome == "success" {
			if a.Regroup {
				regroups++
			} else {
				keygens++
			}
		}
	}
	if keygens == 0 || regroups != 1 {
		t.Fatalf("attempts %+v: want a successful keygen and one successful regroup", res.Attempts)
	}
	if len(res.Keys) < 2 {
		t.Fatalf("keys %+v: want the keygen's and the regroup's", res.Keys)
	}
	before, after := res.Keys[len(res.Keys)-2], res.Keys[len(res.Keys)-1]
	if before.PublicKey != after.PublicKey || before.Address != after.Address || before.KeyID == after.KeyID {
		t.Fatalf("regroup: %+v -> %+v: want the same group key and vault, a new key id", before, after)
	}
	outsiders := 0
	for _, i := range honest(res) {
		state, hash := foldNode(t, res, i)
		if hash.String() != res.Nodes[i].StateHash {
			t.Fatalf("node %d: replay differs from the node's state", i)
		}
		if key, ok := state.Keys.Current(); !ok || key.KeyID.String() != after.KeyID {
			t.Fatalf("node %d does not hold the regroup's key", i)
		}
		// S4 (checked by run at every node) holds at members too: each
		// proves its new share only once the key is current, and does.
		proved := false
		for id, count := range ownProofs(t, res, i) {
			proved = proved || (id.String() == after.KeyID && count > 0)
		}
		if slices.Contains(after.Members, i) != proved {
			t.Fatalf("node %d: proved its share of the regroup's key %t, member %t", i, proved, slices.Contains(after.Members, i))
		}
		if !slices.Contains(after.Members, i) {
			outsiders++
			if kinds := logKinds(t, res, i); kinds[events.KindKeyPublished] != 0 || kinds[events.KindKeyAnnouncementReceived] == 0 {
				t.Fatalf("node %d, outside the committee: %d keys published, %d announcements: want the key from announcements only",
					i, kinds[events.KindKeyPublished], kinds[events.KindKeyAnnouncementReceived])
			}
		}
	}
	if outsiders != 1 {
		t.Fatalf("%d nodes outside the committee of %v, want 1", outsiders, after.Members)
	}
	// A signing session started after node 0 took the regroup's key, and
	// succeeded: the new shares sign.
	newKey, started, signedAfter := false, map[events.Hash]bool{}, false
	for _, ev := range logEvents(t, res, 0) {
		switch e := ev.(type) {
		case *events.KeyPublished:
			newKey = e.KeyID.String() == after.KeyID
		case *events.TSSSessionStarted:
			started[e.Session] = newKey && e.Protocol == events.SessionSigning
		case *events.TSSSessionFinished:
			signedAfter = signedAfter || (started[e.Session] && e.Outcome == events.OutcomeSuccess)
		}
	}
	if !signedAfter {
		t.Fatal("no signing session on the regroup's key succeeded")
	}
	// Of the group key the regroup handed on, each member of its
	// committee holds its new share alone: it erased its keygen share
	// once the regroup's key was current. Shares of keys an earlier
	// keygen replaced (other group keys) are kept, and the node outside
	// the committee, with no new share to prove, keeps what it had.
	publicKeys := map[string]string{}
	for _, k := range res.Keys {
		publicKeys[k.KeyID] = k.PublicKey
	}
	for _, i := range honest(res) {
		list, err := tss.ListShares(filepath.Join(filepath.Dir(filepath.Dir(res.Nodes[i].Log)), "shares"))
		if err != nil {
			t.Fatal(err)
		}
		var ofGroup []string
		for _, l := range list {
			if id := l.KeyID.String(); publicKeys[id] == after.PublicKey {
				ofGroup = append(ofGroup, id)
			}
		}
		want := []string{after.KeyID}
		if !slices.Contains(after.Members, i) {
			want = nil
			if slices.Contains(before.Members, i) {
				want = []string{before.KeyID}
			}
		}
		if !slices.Equal(ofGroup, want) {
			t.Fatalf("node %d holds shares of the group key of %v, want %v (keys %+v)", i, ofGroup, want, res.Keys)
		}
	}
	verifyLogs(t, res)
}

// TestRealTSSByzantine: a signer that corrupts its point-to-point shares
// is named by tss-lib's proof checks, a silent one by WaitingFor at the
// deadline; either way the round aborts, the set's honest members block
// it, and a later round signs without it.
func TestRealTSSByzantine(t *testing.T) {
	for _, tc := range []struct {
		behaviour sim.Behaviour
		reason    string
	}{
		{sim.CorruptShare, projections.BlockCulprit.String()},
		{sim.TSSSilent, projections.BlockTimeout.String()},
	} {
		t.Run(string(tc.behaviour), func(t *testing.T) {
			const liar = 1
			res := run(t, sim.Config{Nodes: 5, Threshold: 2, Duration: 5 * time.Minute, TSS: true, DepositEvery: 15 * time.Second,
				Faults: []sim.Fault{{Behaviour: tc.behaviour, Node: liar}}})
			aborted := -1
			for i, r := range res.Rounds {
				if r.Outcomes[projections.OutcomeAborted] > 0 && slices.Contains(r.Set, liar) {
					aborted = i
					break
				}
			}
			if aborted < 0 {
				t.Fatalf("rounds %+v: no round with node %d in its set aborted", res.Rounds, liar)
			}
			members := 0
			for _, m := range res.Rounds[aborted].Set {
				if m == liar {
					continue
				}
				members++
				if !slices.ContainsFunc(res.Blocks, func(b sim.BlockResult) bool {
					return b.By == m && b.Peer == liar && b.Reason == tc.reason
				}) {
					t.Fatalf("set member %d did not block node %d for %s: %+v", m, liar, tc.reason, res.Blocks)
				}
			}
			if members == 0 {
				t.Fatal("no honest member in the aborted set")
			}
			signedWithout := false
			for _, r := range res.Rounds[aborted+1:] {
				if r.Outcomes[projections.OutcomeSigned] > 0 && !slices.Contains(r.Set, liar) {
					signedWithout = true
				}
			}
			if !signedWithout {
				t.Fatalf("rounds %+v: no later round signed without node %d", res.Rounds[aborted+1:], liar)
			}
		})
	}
}

// TestRealTSSSurvivesLoss: with one tss message in ten lost on its way to
// each receiver, stalled sessions resend and finished parties answer
// retransmissions, so every session signs: no round aborts and no honest
// peer is blocked for a timeout.
func TestRealTSSSurvivesLoss(t *testing.T) {
	res := run(t, sim.Config{Nodes: 5, Threshold: 2, Duration: 5 * time.Minute, TSS: true, DropTSS: 0.1, DepositEvery: 15 * time.Second})
	if res.Signed < 2 || res.Aborted != 0 || len(res.Blocks) != 0 {
		t.Fatalf("under tss message loss: %d signed, %d aborted, blocks %+v", res.Signed, res.Aborted, res.Blocks)
	}
}

// TestRealKeygenCulprit: a committee member corrupts its keygen shares,
// or sends nothing; tss-lib names it (a proof failure, or WaitingFor at
// the deadline) and every participant reports it. A proof failure t+1
// report is a culprit block at every node; silence blocks nobody (a peer
// that never started looks the same) but t+1 reports of it leave it out
// of the next attempt at every node. Either way all agree on the next
// committee, and the next keygen succeeds without it.
func TestRealKeygenCulprit(t *testing.T) {
	for _, tc := range []struct {
		behaviour sim.Behaviour
		reason    string
	}{
		{sim.CorruptShare, projections.BlockCulprit.String()},
		{sim.TSSSilent, ""}, // left out, not blocked
	} {
		t.Run(string(tc.behaviour), func(t *testing.T) {
			const liar = 1
			res := run(t, sim.Config{Nodes: 6, Committee: 5, Threshold: 2, Duration: 11 * time.Minute, KeygenFor: 11 * time.Minute, TSS: true,
				Faults: []sim.Fault{{Behaviour: tc.behaviour, Node: liar}}})
			failed, succeeded := false, false
			for _, a := range res.Attempts {
				switch {
				case a.Outcome == "failed" && slices.Equal(a.Culprits, []int{liar}):
					failed = true
				case a.Outcome == "success" && failed:
					succeeded = true
				}
			}
			if !failed || !succeeded {
				t.Fatalf("attempts %+v: want a keygen failing on node %d, then one succeeding", res.Attempts, liar)
			}
			if len(res.Keys) == 0 || slices.Contains(res.Keys[len(res.Keys)-1].Members, liar) {
				t.Fatalf("keys %+v: the last one must leave node %d out", res.Keys, liar)
			}
			for _, i := range honest(res) {
				if tc.reason == "" {
					continue
				}
				if !slices.ContainsFunc(res.Blocks, func(b sim.BlockResult) bool {
					return b.By == i && b.Peer == liar && b.Reason == tc.reason
				}) {
					t.Fatalf("node %d did not block node %d (%s): %+v", i, liar, tc.reason, res.Blocks)
				}
			}
		})
	}
}

// TestRealRegroupCulprit: a share holder that corrupts its tss messages
// is first named in a signing session (its set's members block it, but
// regroup does not honor a block only they know, so the commits still
// match), then in the regroup's resharing: the regroup fails naming it
// alone, every honest node blocks it, and the old shares keep signing.
func TestRealRegroupCulprit(t *testing.T) {
	const liar = 1
	res := run(t, sim.Config{Nodes: 6, Committee: 5, Threshold: 2, Duration: 16 * time.Minute, TSS: true, DepositEvery: 20 * time.Second,
		Faults: []sim.Fault{{Behaviour: sim.CorruptShare, Node: liar}}})
	var regroup *sim.AttemptResult
	for i := range res.Attempts {
		if res.Attempts[i].Regroup {
			regroup = &res.Attempts[i]
		}
	}
	if regroup == nil || regroup.Outcome != "failed" || !slices.Equal(regroup.Culprits, []int{liar}) {
		t.Fatalf("regroup %+v: want it failed naming node %d alone", regroup, liar)
	}
	for _, i := range honest(res) {
		state, _ := foldNode(t, res, i)
		if !state.Blocks.HasEvidenceAgainst(peerID(t, res, liar)) {
			t.Fatalf("node %d holds no evidence block against node %d after the regroup", i, liar)
		}
	}
	if len(res.Keys) != 1 {
		t.Fatalf("keys %+v: a failed regroup must leave the old key", res.Keys)
	}
	state, _ := foldNode(t, res, 0)
	regroupDay := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano() / int64(time.Minute)
	signedAfter := false
	for _, h := range state.Rounds.History() {
		signedAfter = signedAfter || (h.Number > regroupDay && h.Outcome == projections.OutcomeSigned)
	}
	if !signedAfter {
		t.Fatal("the old shares did not sign after the failed regroup")
	}
}

// TestRealKeygenCorruptShareOne: a committee member corrupts only the
// share it sends one peer, so only that peer's session fails and only it
// can name the culprit. Nobody else can check the claim: no node blocks
// anyone for it (S2, checked by run), the victim's report ends the other
// participants' sessions at once (nobody waits to blame the victim for a
// timeout), both disputants sit out the next attempt at every node
// alike, and that attempt succeeds (L2).
func TestRealKeygenCorruptShareOne(t *testing.T) {
	const liar, victim = 1, 2
	res := run(t, sim.Config{Nodes: 7, Committee: 5, Threshold: 2, Duration: 11 * time.Minute, KeygenFor: 11 * time.Minute, TSS: true,
		Faults: []sim.Fault{{Behaviour: sim.CorruptShareOne, Node: liar}}})
	failed, succeeded := false, false
	for _, a := range res.Attempts {
		switch {
		case a.Outcome == "failed":
			failed = true
		case a.Outcome == "success" && failed:
			succeeded = true
		}
	}
	if !failed || !succeeded {
		t.Fatalf("attempts %+v: want a keygen failing on the victim, then one succeeding", res.Attempts)
	}
	last := res.Keys[len(res.Keys)-1].Members
	if slices.Contains(last, liar) || slices.Contains(last, victim) {
		t.Fatalf("key members %v: the disputants %d and %d sit out the attempt after the dispute", last, liar, victim)
	}
	for _, b := range res.Blocks {
		if b.Peer == liar && b.By != victim {
			t.Fatalf("node %d blocked node %d on a claim it could not check", b.By, liar)
		}
	}
}

// TestRealLateChecksum: a threshold set member times its checksum to land
// just before the check phase ends at half the nodes and just after at
// the rest, with real tss. The members that had it start signing; the
// others see the session of their own expected set start and join it, so
// nobody times out waiting for an honest member, nobody honest is
// blocked (S2, checked by run), and rounds sign.
func TestRealLateChecksum(t *testing.T) {
	res := run(t, sim.Config{Nodes: 5, Threshold: 2, Duration: 6 * time.Minute, TSS: true, DepositEvery: 15 * time.Second,
		Faults: []sim.Fault{{Behaviour: sim.LateChecksum, Node: 0}}})
	if res.SignedWithTransfers == 0 || res.Signatures == 0 {
		t.Fatalf("%d of %d rounds with transfers signed, %d signatures", res.SignedWithTransfers, res.WithTransfers, res.Signatures)
	}
	live(t, res, 2)
}

// TestRealLateCommit: a committee member times its keygen commit to land
// just before the commit phase ends at half the nodes and just after at
// the rest. Those that had it start keygen; the others see the session
// they expect start and join it, so the attempt succeeds at once instead
// of the starters waiting for honest members that never started (L2).
func TestRealLateCommit(t *testing.T) {
	res := run(t, sim.Config{Nodes: 6, Committee: 5, Threshold: 2, Duration: 11 * time.Minute, KeygenFor: 11 * time.Minute, TSS: true,
		Faults: []sim.Fault{{Behaviour: sim.LateCommit, Node: 1}}})
	for _, a := range res.Attempts {
		if a.Outcome == "skipped" && strings.Contains(a.Reason, "peers listed") {
			continue // the peer lists were still filling
		}
		if a.Outcome != "success" {
			t.Fatalf("the first attempt with a full committee: %+v, want success", a)
		}
		return
	}
	t.Fatalf("no keygen attempt: %+v", res.Attempts)
}

// TestRealTSSEquivocateBroadcast: a signer shows half the nodes one
// version of each of its tss-lib broadcasts and the rest another, neither
// relayed. The broadcast check's echoes disagree, the originals are passed
// on, each honest signer of the session holds both signed versions and
// names the liar; the pair is gossiped as evidence, so every honest node,
// in the session or not, blocks the liar for equivocation; no honest node
// is blocked; and the network signs on without it.
func TestRealTSSEquivocateBroadcast(t *testing.T) {
	for _, seed := range []uint64{7, 8, 9} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) { equivocateBroadcast(t, seed) })
	}
}

func equivocateBroadcast(t *testing.T, seed uint64) {
	const liar = 1
	res := run(t, sim.Config{Nodes: 5, Threshold: 2, Duration: 5 * time.Minute, TSS: true, DepositEvery: 15 * time.Second, Seed: seed,
		Faults: []sim.Fault{{Behaviour: sim.EquivocateBroadcast, Node: liar}}})
	for node := range 5 {
		if node == liar {
			continue
		}
		if !slices.ContainsFunc(res.Blocks, func(b sim.BlockResult) bool {
			return b.By == node && b.Peer == liar && b.Reason == projections.BlockEquivocation.String()
		}) {
			t.Fatalf("node %d did not block node %d for equivocation: %+v\nrounds %+v", node, liar, res.Blocks, res.Rounds)
		}
	}
	for _, b := range res.Blocks {
		if b.Peer != liar {
			t.Fatalf("an honest node was blocked: %+v", b)
		}
	}
	aborted := slices.IndexFunc(res.Rounds, func(r sim.RoundResult) bool {
		return r.Outcomes[projections.OutcomeAborted] > 0 && slices.Contains(r.Set, liar)
	})
	if aborted < 0 {
		t.Fatalf("rounds %+v: no round with node %d in its set aborted", res.Rounds, liar)
	}
	if !slices.ContainsFunc(res.Rounds[aborted+1:], func(r sim.RoundResult) bool {
		return r.Outcomes[projections.OutcomeSigned] > 0 && !slices.Contains(r.Set, liar)
	}) {
		t.Fatalf("rounds %+v: no later round signed without node %d", res.Rounds[aborted+1:], liar)
	}
}
