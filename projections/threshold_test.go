package projections_test

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// instance is a random view of one round: peers with seniority and share
// points, signing sets over a few docs.
type instance struct {
	in     projections.ThresholdInput
	rank   map[events.PeerID]int
	points map[events.PeerID]string
}

func randomInstance(rng *rand.Rand) instance {
	n := 3 + rng.IntN(12)
	size := 2 + rng.IntN(n-1)
	docs := 1 + rng.IntN(3)
	inst := instance{rank: map[events.PeerID]int{}, points: map[events.PeerID]string{}}
	perm := rng.Perm(n)
	for i := range n {
		p := eventstest.Peer(i)
		if rng.IntN(8) > 0 { // some peers are not listed
			inst.rank[p] = perm[i]
		}
		inst.points[p] = fmt.Sprint("point-", i)
		if i > 0 && rng.IntN(10) == 0 { // a cloned share
			inst.points[p] = inst.points[eventstest.Peer(rng.IntN(i))]
		}
	}
	for d := range docs {
		inst.in.Docs = append(inst.in.Docs, projections.DocCandidate{
			M0: eventstest.Hash(fmt.Sprint("doc", d)), ValidTransfers: rng.IntN(3), Own: d == 0,
		})
	}
	density := 0.4 + 0.6*rng.Float64()
	for i := range n {
		if rng.IntN(6) == 0 {
			continue // sent no set
		}
		s := projections.SigningSetView{Sender: eventstest.Peer(i), M0: inst.in.Docs[rng.IntN(docs)].M0}
		for j := range n {
			if j == i || rng.Float64() < density {
				s.Members = append(s.Members, eventstest.Peer(j))
			}
		}
		slices.Sort(s.Members)
		inst.in.Sets = append(inst.in.Sets, s)
	}
	inst.in.Size = size
	inst.in.Seniority = func(p events.PeerID) (int, bool) { r, ok := inst.rank[p]; return r, ok }
	inst.in.ProvenPoint = func(p events.PeerID) ([]byte, bool) { return []byte(inst.points[p]), true }
	return inst
}

func TestThresholdSetProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	found := 0
	for trial := range 3000 {
		inst := randomInstance(rng)
		res := projections.ComputeThresholdSet(inst.in)

		// Every honest node holding the same sets computes the same result,
		// whatever order it received them in.
		shuffled := inst.in
		shuffled.Sets = slices.Clone(inst.in.Sets)
		shuffled.Docs = slices.Clone(inst.in.Docs)
		rng.Shuffle(len(shuffled.Sets), func(i, j int) { shuffled.Sets[i], shuffled.Sets[j] = shuffled.Sets[j], shuffled.Sets[i] })
		rng.Shuffle(len(shuffled.Docs), func(i, j int) { shuffled.Docs[i], shuffled.Docs[j] = shuffled.Docs[j], shuffled.Docs[i] })
		if other := projections.ComputeThresholdSet(shuffled); !reflect.DeepEqual(res, other) {
			t.Fatalf("trial %d: input order changed the result", trial)
		}
		if !res.Found {
			continue
		}
		found++
		checkThresholdSet(t, trial, inst, res)
	}
	t.Logf("%d of 3000 random rounds found a threshold set", found)
	if found < 300 {
		t.Fatalf("only %d rounds found a set: the generator is too sparse to test much", found)
	}
}

func checkThresholdSet(t *testing.T, trial int, inst instance, res projections.ThresholdResult) {
	t.Helper()
	if len(res.Set) != inst.in.Size {
		t.Fatalf("trial %d: set of %d, want exactly t+1 = %d", trial, len(res.Set), inst.in.Size)
	}
	sets := map[events.PeerID]projections.SigningSetView{}
	for _, s := range inst.in.Sets {
		sets[s.Sender] = s
	}
	points := map[string]bool{}
	for i, p := range res.Set {
		s, ok := sets[p]
		if !ok || s.M0 != res.M0 {
			t.Fatalf("trial %d: %s sent no set for the chosen doc", trial, p.Short())
		}
		if _, listed := inst.rank[p]; !listed {
			t.Fatalf("trial %d: %s is not in the peer list", trial, p.Short())
		}
		if points[inst.points[p]] {
			t.Fatalf("trial %d: two members prove the same share point", trial)
		}
		points[inst.points[p]] = true
		if i > 0 && inst.rank[res.Set[i-1]] > inst.rank[p] {
			t.Fatalf("trial %d: set not in seniority order", trial)
		}
		for _, q := range res.Set {
			if !slices.Contains(s.Members, q) {
				t.Fatalf("trial %d: %s does not list %s: not a mutual-visibility clique", trial, p.Short(), q.Short())
			}
		}
	}
	// Greedy: every candidate more senior than the last member that was
	// left out fails mutual visibility with an earlier member.
	var attempt projections.DocAttempt
	for _, a := range res.Attempts {
		if a.Doc.M0 == res.M0 {
			attempt = a
		}
	}
	last := res.Set[len(res.Set)-1]
	for _, c := range attempt.Candidates {
		if c == last {
			break
		}
		if slices.Contains(res.Set, c) {
			continue
		}
		blocked := false
		for _, q := range res.Set {
			if inst.rank[q] < inst.rank[c] && (!slices.Contains(sets[c].Members, q) || !slices.Contains(sets[q].Members, c)) {
				blocked = true
			}
		}
		if !blocked {
			t.Fatalf("trial %d: %s was skipped though it sees every more senior member", trial, c.Short())
		}
	}
}

func TestThresholdSetRules(t *testing.T) {
	peer := eventstest.Peer
	all := []events.PeerID{peer(0), peer(1), peer(2), peer(3)}
	slices.Sort(all)
	doc := func(name string, valid int, own bool) projections.DocCandidate {
		return projections.DocCandidate{M0: eventstest.Hash(name), ValidTransfers: valid, Own: own}
	}
	set := func(sender int, docName string, members ...events.PeerID) projections.SigningSetView {
		slices.Sort(members)
		return projections.SigningSetView{Sender: peer(sender), M0: eventstest.Hash(docName), Members: members}
	}
	senior := func(p events.PeerID) (int, bool) {
		for i := range 4 {
			if peer(i) == p {
				return i, true
			}
		}
		return 0, false
	}
	distinct := func(p events.PeerID) ([]byte, bool) { return []byte(p), true }

	tests := []struct {
		name    string
		in      projections.ThresholdInput
		wantDoc string
		wantSet []events.PeerID
	}{
		{
			name: "more valid transfers win",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 1, true), doc("b", 2, false)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "a", all...), set(2, "b", all...), set(3, "b", all...)},
				Size: 2, Seniority: senior, ProvenPoint: distinct,
			},
			wantDoc: "b", wantSet: []events.PeerID{peer(2), peer(3)},
		},
		{
			name: "on equal transfers the own doc beats an intersection",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 2, false), doc("b", 2, true)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "a", all...), set(2, "b", all...), set(3, "b", all...)},
				Size: 2, Seniority: senior, ProvenPoint: distinct,
			},
			wantDoc: "b", wantSet: []events.PeerID{peer(2), peer(3)},
		},
		{
			name: "a doc without valid transfers is never signed",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 0, true)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "a", all...)},
				Size: 2, Seniority: senior, ProvenPoint: distinct,
			},
		},
		{
			name: "too few on the best doc: the next doc",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 3, true), doc("b", 1, false)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "b", all...), set(2, "b", all...)},
				Size: 2, Seniority: senior, ProvenPoint: distinct,
			},
			wantDoc: "b", wantSet: []events.PeerID{peer(1), peer(2)},
		},
		{
			name: "a cloned share is pruned; the next peer takes its place",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 1, true)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "a", all...), set(2, "a", all...)},
				Size: 2, Seniority: senior,
				ProvenPoint: func(p events.PeerID) ([]byte, bool) {
					if p == peer(1) {
						return []byte(peer(0)), true // peer 1 proves peer 0's share
					}
					return []byte(p), true
				},
			},
			wantDoc: "a", wantSet: []events.PeerID{peer(0), peer(2)},
		},
		{
			name: "one-sided visibility is not enough",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 1, true)},
				Sets: []projections.SigningSetView{
					set(0, "a", peer(0), peer(1), peer(2)),
					set(1, "a", peer(1), peer(2)), // does not list peer 0
					set(2, "a", peer(0), peer(1), peer(2)),
				},
				Size: 2, Seniority: senior, ProvenPoint: distinct,
			},
			wantDoc: "a", wantSet: []events.PeerID{peer(0), peer(2)},
		},
		{
			name: "unlisted or blocked senders are no candidates",
			in: projections.ThresholdInput{
				Docs: []projections.DocCandidate{doc("a", 1, true)},
				Sets: []projections.SigningSetView{set(0, "a", all...), set(1, "a", all...), set(2, "a", all...)},
				Size: 2, ProvenPoint: distinct,
				Seniority: func(p events.PeerID) (int, bool) {
					if p == peer(0) {
						return 0, false
					}
					return senior(p)
				},
			},
			wantDoc: "a", wantSet: []events.PeerID{peer(1), peer(2)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := projections.ComputeThresholdSet(tc.in)
			if tc.wantSet == nil {
				if res.Found {
					t.Fatalf("found %v, want none", res.Set)
				}
				return
			}
			if !res.Found || res.M0 != eventstest.Hash(tc.wantDoc) || !slices.Equal(res.Set, tc.wantSet) {
				t.Fatalf("got found=%t doc=%s set=%v; want doc %s set %v", res.Found, res.M0, res.Set, tc.wantDoc, tc.wantSet)
			}
		})
	}
}

func BenchmarkThresholdSet100Peers(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	in := projections.ThresholdInput{Size: 51}
	rank := map[events.PeerID]int{}
	var peers []events.PeerID
	for i := range 100 {
		p := eventstest.Peer(i)
		peers = append(peers, p)
		rank[p] = i
	}
	sorted := slices.Clone(peers)
	slices.Sort(sorted)
	in.Docs = []projections.DocCandidate{{M0: eventstest.Hash("doc"), ValidTransfers: 5, Own: true}}
	for _, p := range peers {
		var members []events.PeerID
		for _, q := range sorted {
			if q == p || rng.IntN(100) > 0 {
				members = append(members, q)
			}
		}
		in.Sets = append(in.Sets, projections.SigningSetView{Sender: p, M0: in.Docs[0].M0, Members: members})
	}
	in.Seniority = func(p events.PeerID) (int, bool) { r, ok := rank[p]; return r, ok }
	in.ProvenPoint = func(p events.PeerID) ([]byte, bool) { return []byte(p), true }
	b.ResetTimer()
	for range b.N {
		if res := projections.ComputeThresholdSet(in); !res.Found {
			b.Fatal("no set")
		}
	}
}
