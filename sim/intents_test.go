package sim_test

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/sim"
)

// TestIntentSquat: a peer registers intents for the world's next amounts
// (half without a valid proof of work, more than the per-peer bound),
// the world deposits some amounts twice, and 3% of messages are lost.
// Intents without valid work never count, the squatter holds at most the
// bound, no deposit is paid twice and no intent pays two deposits, the
// honest nodes end with the same intents in force, and rounds sign.
func TestIntentSquat(t *testing.T) {
	const squatter = 3
	cfg := sim.Config{Nodes: 5, Threshold: 2, Duration: 12 * time.Minute, Drop: 0.03,
		Faults: []sim.Fault{{Behaviour: sim.IntentSquat, Node: squatter}}}
	res := run(t, cfg)
	if res.Signed < 3 {
		t.Fatalf("only %d rounds signed", res.Signed)
	}
	params := cfg.Params()
	squatID := peerID(t, res, squatter)
	end := events.TimeOf(sim.Start.Add(cfg.Duration))

	held := map[int][]events.Hash{}
	firstSeen := map[events.Hash]events.Time{}
	depositPaidBy := map[string]events.Hash{} // across honest nodes
	intentPaid := map[events.Hash]string{}
	for _, i := range honest(res) {
		st, _ := foldNode(t, res, i)
		tr := st.Transfers
		verdicts := tr.IntentVerdicts()
		if verdicts[projections.IntentBadPoW] == 0 || verdicts[projections.IntentOverBound] == 0 {
			t.Fatalf("node %d: the squatter's bad work and excess went unnoticed: %v", i, verdicts)
		}
		squatHeld := 0
		for _, in := range append(tr.Held(), tr.Consumed()...) {
			var kv events.KVEntry
			if err := events.Unmarshal(in.Msg.Body, &kv); err != nil || !events.VerifyIntentPoW(params, &kv) {
				t.Fatalf("node %d counts intent %x without a valid proof of work", i, in.ID[:6])
			}
		}
		for _, in := range tr.Held() {
			if in.From == squatID {
				squatHeld++
			}
			held[i] = append(held[i], in.ID)
			if s, ok := firstSeen[in.ID]; !ok || in.Seen < s {
				firstSeen[in.ID] = in.Seen
			}
		}
		if squatHeld > params.IntentsPerPeer {
			t.Fatalf("node %d holds %d of the squatter's intents, bound %d", i, squatHeld, params.IntentsPerPeer)
		}
		// S3, across honest nodes: a deposit is paid by one intent, an
		// intent pays one deposit.
		for _, in := range tr.Consumed() {
			if d, ok := intentPaid[in.ID]; ok && d != in.Paid {
				t.Fatalf("intent %x paid %s and %s", in.ID[:6], d, in.Paid)
			}
			intentPaid[in.ID] = in.Paid
			if other, ok := depositPaidBy[in.Paid]; ok && other != in.ID {
				t.Fatalf("deposit %s paid by intents %x and %x", in.Paid, other[:6], in.ID[:6])
			}
			depositPaidBy[in.Paid] = in.ID
		}
		spentBy := map[string]string{}
		store, err := events.Open(filepath.Dir(res.Nodes[i].Log), events.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = store.ForEach(1, store.LastSeq(), func(_ uint64, ev events.Event) error {
			if c, ok := ev.(*events.TxConfirmed); ok {
				for _, d := range c.Spends {
					if tx, ok := spentBy[d]; ok && tx != c.TxID {
						t.Errorf("node %d: deposit %s spent by txs %s and %s", i, d, tx, c.TxID)
					}
					spentBy[d] = c.TxID
				}
			}
			return nil
		})
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if len(intentPaid) < 3 {
		t.Fatalf("only %d intents paid a deposit", len(intentPaid))
	}
	// The world repeated amounts, so S3 was exercised: some amount had
	// two deposits, each paid by its own intent.
	st, _ := foldNode(t, res, honest(res)[0])
	paidPerAmount := map[uint64]int{}
	for _, d := range st.Transfers.Deposits() {
		if d.PaidBy != (events.Hash{}) {
			paidPerAmount[d.Amount]++
		}
	}
	if !slices.ContainsFunc(slices.Collect(maps.Values(paidPerAmount)), func(n int) bool { return n >= 2 }) {
		t.Fatalf("no amount was paid twice by two intents: %v", paidPerAmount)
	}
	// Convergence: every intent some honest node held for two minutes
	// (two rounds of anti-entropy) is held by every honest node, and no
	// honest node holds an intent another counts as consumed (a refund
	// consumes no intent, at any node).
	settled := func(ids []events.Hash) []events.Hash {
		var out []events.Hash
		for _, id := range ids {
			if end.Sub(firstSeen[id]) >= 2*time.Minute {
				out = append(out, id)
			}
		}
		return out
	}
	var want []events.Hash
	for k, i := range honest(res) {
		got := settled(held[i])
		if k == 0 {
			want = got
			continue
		}
		if !slices.EqualFunc(got, want, func(a, b events.Hash) bool { return bytes.Equal(a[:], b[:]) }) {
			t.Fatalf("node %d holds %d settled intents, node %d %d: not converged", i, len(got), honest(res)[0], len(want))
		}
	}
	if len(want) == 0 {
		t.Fatal("no settled intent in force to compare")
	}
}
