package projections_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// kvNode drives a whole State (Peers is folded before Transfers, which
// reads it for admission), as node 0, with cheap proof-of-work params.
type kvNode struct {
	t      *testing.T
	st     *projections.State
	seq    uint64
	now    events.Time
	params events.Params
}

const kvBound = 3

func newKVNode(t *testing.T) *kvNode {
	t.Helper()
	p := events.DefaultParams(4, 2)
	p.Network, p.NodeID = "test", eventstest.Peer(0)
	p.IntentPoWTime, p.IntentPoWMemoryKiB, p.IntentPoWBits, p.IntentsPerPeer = 1, 64, 4, kvBound
	p.ChainSettle = 0 // deposits count at once (TestChainSettle tests the cut)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	n := &kvNode{t: t, st: projections.NewState(), now: eventstest.Epoch, params: p}
	n.apply(&events.Genesis{Params: p})
	n.apply(&events.Tick{Time: n.now})
	return n
}

func (n *kvNode) apply(ev events.Event) {
	n.seq++
	n.st.Apply(n.seq, ev)
}

// admit makes peer admitted: an accepted ping and a good, old stake.
func (n *kvNode) admit(peer int) {
	body, err := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(peer), Seq: 1, Time: n.now, StakeTx: stakeTx(peer)})
	if err != nil {
		n.t.Fatal(err)
	}
	n.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)})
	n.apply(&events.StakeChecked{
		Peer: eventstest.Peer(peer), StakeTx: stakeTx(peer), Found: true, Confirmed: true,
		ConfirmedAt: n.now.Add(-100 * time.Hour), Amount: 100, BoundPeer: eventstest.Peer(peer),
	})
}

// entry builds a kv message from peer; pow says whether its nonce is mined.
func (n *kvNode) entry(peer int, amount uint64, intent string, pow bool) events.Signed {
	kv := events.KVEntry{Amount: amount, Intent: []byte(intent)}
	if pow {
		events.MineIntentPoW(n.params, &kv, 0)
	} else {
		for i := uint64(0); ; i++ { // the first nonce that fails
			kv.Nonce = []byte{byte(i)}
			if !events.VerifyIntentPoW(n.params, &kv) {
				break
			}
		}
	}
	body, err := events.Marshal(nil, &kv)
	if err != nil {
		n.t.Fatal(err)
	}
	return eventstest.Signed(events.TypeKVEntry, peer, body)
}

// receive applies a kv message as received (peer 0, the node itself,
// as sent).
func (n *kvNode) receive(m events.Signed) {
	if m.From == n.params.NodeID {
		n.apply(&events.MessageSent{Msg: m})
		return
	}
	n.apply(&events.KVEntryReceived{Msg: m})
}

func (n *kvNode) deposit(tx string, amount uint64) string {
	n.apply(&events.DepositObserved{Chain: "btc", TxID: tx, Amount: amount, Sender: "from-" + tx, Confirmations: 1})
	return events.DepositID("btc", tx, 0)
}

// paid returns the intent text paying deposit id, or "".
func (n *kvNode) paid(id string) string {
	if in, ok := n.st.Transfers.PaidBy(id); ok {
		return string(in.Intent)
	}
	return ""
}

func (n *kvNode) held() []string {
	var out []string
	for _, in := range n.st.Transfers.Held() {
		out = append(out, string(in.Intent))
	}
	slices.Sort(out)
	return out
}

func (n *kvNode) stateBytes() []byte { return n.st.Transfers.AppendState(nil) }

// An intent counts only with a valid proof of work and from an admitted
// peer or the node itself. (Mutations: drop the VerifyIntentPoW check,
// and "bad pow" cases fail; drop the admitted check, and "not admitted"
// and "young stake" fail.)
func TestIntentCountsOnlyWithPoWFromAdmitted(t *testing.T) {
	cases := []struct {
		name    string
		from    int
		admit   bool
		young   bool
		pow     bool
		want    projections.IntentVerdict
		counted bool
	}{
		{"admitted with pow", 1, true, false, true, projections.IntentAccepted, true},
		{"admitted bad pow", 1, true, false, false, projections.IntentBadPoW, false},
		{"not admitted", 2, false, false, true, projections.IntentNotAdmitted, false},
		{"young stake", 2, true, true, true, projections.IntentNotAdmitted, false},
		{"own with pow", 0, false, false, true, projections.IntentAccepted, true},
		{"own bad pow", 0, false, false, false, projections.IntentBadPoW, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newKVNode(t)
			if c.admit {
				n.admit(c.from)
				if c.young {
					n.apply(&events.StakeChecked{Peer: eventstest.Peer(c.from), StakeTx: stakeTx(c.from), Found: true, Confirmed: true,
						ConfirmedAt: n.now.Add(-time.Hour), Amount: 100, BoundPeer: eventstest.Peer(c.from)})
				}
			}
			m := n.entry(c.from, 500, "dest", c.pow)
			if got := n.st.Transfers.CheckKV(&m); got != c.want {
				t.Fatalf("verdict %v, want %v", got, c.want)
			}
			n.receive(m)
			d := n.deposit("tx-a", 500)
			if got := n.paid(d) != ""; got != c.counted {
				t.Fatalf("deposit paid %v, want %v (verdicts %v)", got, c.counted, n.st.Transfers.IntentVerdicts())
			}
			if got := n.st.Transfers.IsValid(d); got != c.counted {
				t.Fatalf("valid %v, want %v", got, c.counted)
			}
		})
	}
}

// An intent pays exactly one deposit and is consumed with it (S3).
// (Mutation: keep the intent held in Consume, and "second deposit after
// the first is spent" pays it twice; pair every deposit of an amount
// with its smallest intent, and "two deposits one intent" pays it twice.)
func TestIntentPaysOneDeposit(t *testing.T) {
	// spend confirms a tx that pays each deposit to the intent paired
	// with it now, as the doc of a round would.
	spend := func(n *kvNode, ids ...string) {
		tx := &events.TxConfirmed{Chain: "btc", TxID: "payout", Confirmations: 1, Spends: ids}
		for _, id := range ids {
			if in, ok := n.st.Transfers.PaidBy(id); ok {
				tx.Payouts = append(tx.Payouts, events.TxPayout{Deposit: id, Intent: in.Intent})
			}
		}
		n.apply(tx)
	}
	cases := []struct {
		name string
		run  func(n *kvNode) map[string]string // deposit -> want intent ("" unpaid)
	}{
		{"two deposits one intent", func(n *kvNode) map[string]string {
			n.receive(n.entry(1, 500, "A", true))
			a, b := n.deposit("tx-a", 500), n.deposit("tx-b", 500)
			return map[string]string{a: "A", b: ""}
		}},
		{"second deposit after the first is spent", func(n *kvNode) map[string]string {
			n.receive(n.entry(1, 500, "A", true))
			a := n.deposit("tx-a", 500)
			spend(n, a)
			b := n.deposit("tx-b", 500)
			if got := n.st.Transfers.Consumed(); len(got) != 1 || got[0].Paid != a {
				t.Fatalf("consumed %v, want A paying %s", got, a)
			}
			return map[string]string{b: ""}
		}},
		{"a new intent after consumption pays the next", func(n *kvNode) map[string]string {
			n.receive(n.entry(1, 500, "A", true))
			spend(n, n.deposit("tx-a", 500))
			n.receive(n.entry(1, 500, "B", true))
			return map[string]string{n.deposit("tx-b", 500): "B"}
		}},
		{"a consumed intent re-gossiped stays consumed", func(n *kvNode) map[string]string {
			m := n.entry(1, 500, "A", true)
			n.receive(m)
			spend(n, n.deposit("tx-a", 500))
			if v := n.st.Transfers.CheckKV(&m); v != projections.IntentKnown {
				t.Fatalf("re-gossiped consumed intent: %v, want known", v)
			}
			n.receive(m)
			return map[string]string{n.deposit("tx-b", 500): ""}
		}},
		{"two intents two deposits pair by id", func(n *kvNode) map[string]string {
			a, b := n.entry(1, 500, "A", true), n.entry(2, 500, "B", true)
			n.receive(a)
			n.receive(b)
			first, second := "A", "B"
			if ia, ib := events.IntentID(a.Body), events.IntentID(b.Body); bytes.Compare(ib[:], ia[:]) < 0 {
				first, second = "B", "A"
			}
			return map[string]string{n.deposit("tx-a", 500): first, n.deposit("tx-b", 500): second}
		}},
		{"spent twice consumes once", func(n *kvNode) map[string]string {
			n.receive(n.entry(1, 500, "A", true))
			n.receive(n.entry(2, 500, "B", true))
			a := n.deposit("tx-a", 500)
			spend(n, a)
			spend(n, a) // the signing session and the chain both report it
			return map[string]string{n.deposit("tx-b", 500): n.held()[0]}
		}},
		{"a deposit spent before it was seen is never paid", func(n *kvNode) map[string]string {
			n.receive(n.entry(1, 500, "A", true))
			spend(n, events.DepositID("btc", "tx-a", 0))
			a := n.deposit("tx-a", 500)
			if n.st.Transfers.IsValid(a) || len(n.held()) != 1 {
				t.Fatalf("spent deposit valid %v, held %v", n.st.Transfers.IsValid(a), n.held())
			}
			return map[string]string{a: ""}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newKVNode(t)
			n.admit(1)
			n.admit(2)
			want := c.run(n)
			for id, w := range want {
				if got := n.paid(id); got != w {
					t.Fatalf("deposit %s paid by %q, want %q", id, got, w)
				}
			}
			// every consumed intent paid one deposit, every paid deposit one intent
			paid := map[string]int{}
			for _, in := range n.st.Transfers.Consumed() {
				paid[in.Paid]++
			}
			for id, k := range paid {
				if k > 1 {
					t.Fatalf("deposit %s paid by %d intents", id, k)
				}
			}
		})
	}
}

// Conflicting intents and the per-peer bound give the same state in any
// arrival order. (Mutation: pair intents in arrival order (by Seen, or
// map order) instead of by id, and the orders disagree; keep the first K
// instead of the K smallest ids, and "bound" disagrees.)
func TestIntentsConvergeInAnyOrder(t *testing.T) {
	cases := []struct {
		name string
		msgs func(n *kvNode) []events.Signed
	}{
		{"conflict for one amount", func(n *kvNode) []events.Signed {
			return []events.Signed{n.entry(1, 500, "A", true), n.entry(2, 500, "B", true), n.entry(0, 500, "own", true)}
		}},
		{"bound", func(n *kvNode) []events.Signed {
			var out []events.Signed
			for i := range kvBound + 3 {
				out = append(out, n.entry(1, uint64(600+i), fmt.Sprint("squat ", i), true))
			}
			return out
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []byte
			msgs := c.msgs(newKVNode(t))
			orders := [][]int{}
			for i := range msgs { // every rotation, and its reverse
				var o, r []int
				for k := range msgs {
					o = append(o, (i+k)%len(msgs))
					r = append(r, (i+len(msgs)-k)%len(msgs))
				}
				orders = append(orders, o, r)
			}
			for _, order := range orders {
				n := newKVNode(t)
				n.admit(1)
				n.admit(2)
				for k, i := range order {
					if k == 1 { // deposits arrive between intents
						n.deposit("tx-a", 500)
						n.deposit("tx-b", 500)
					}
					n.now = n.now.Add(time.Second) // Seen differs by order; only ids may decide
					n.apply(&events.Tick{Time: n.now})
					n.receive(msgs[i])
				}
				n.deposit("tx-c", 600)
				var got []byte
				for _, in := range n.st.Transfers.Held() {
					got = append(got, in.ID[:]...)
				}
				for _, d := range []string{"tx-a", "tx-b", "tx-c"} {
					got = append(got, n.paid(events.DepositID("btc", d, 0))...)
				}
				if want == nil {
					want = got
				} else if !bytes.Equal(got, want) {
					t.Fatalf("order %v: held and pairing differ from the first order", order)
				}
			}
		})
	}
}

// At most IntentsPerPeer unconsumed intents per peer: those with the
// smallest ids. (Mutation: make bound a no-op and it fails.)
func TestIntentPerPeerBound(t *testing.T) {
	cases := []struct {
		name  string
		peer  int
		count int
	}{
		{"under the bound", 1, kvBound - 1},
		{"at the bound", 1, kvBound},
		{"over the bound", 1, kvBound + 4},
		{"own over the bound", 0, kvBound + 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n := newKVNode(t)
			n.admit(1)
			n.admit(2)
			var ids []events.Hash
			for i := range c.count {
				m := n.entry(c.peer, uint64(700+i), fmt.Sprint("x", i), true)
				ids = append(ids, events.IntentID(m.Body))
				n.receive(m)
			}
			other := n.entry(2, 999, "other peer", true)
			n.receive(other) // another peer's intents are not affected
			slices.SortFunc(ids, func(a, b events.Hash) int { return bytes.Compare(a[:], b[:]) })
			want := ids[:min(len(ids), kvBound)]
			var got []events.Hash
			for _, in := range n.st.Transfers.Held() {
				if in.From == eventstest.Peer(c.peer) {
					got = append(got, in.ID)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("held %d intents of the peer, want its %d smallest ids", len(got), len(want))
			}
			if !n.st.Transfers.Knows(events.IntentID(other.Body)) {
				t.Fatal("another peer's intent was dropped")
			}
		})
	}
}

// A repeated envelope (retransmission, anti-entropy) changes nothing but
// the verdict count. (Mutation: skip the known check and the repeat
// resets Seen, changing the state.)
func TestIntentRepeatIsHarmless(t *testing.T) {
	n := newKVNode(t)
	n.admit(1)
	m := n.entry(1, 500, "A", true)
	n.receive(m)
	held := n.st.Transfers.Held()
	n.now = n.now.Add(time.Minute)
	n.apply(&events.Tick{Time: n.now})
	n.receive(m)
	if v := n.st.Transfers.IntentVerdicts(); v[projections.IntentKnown] != 1 || v[projections.IntentAccepted] != 1 {
		t.Fatalf("verdicts %v", v)
	}
	again := n.st.Transfers.Held()
	if len(again) != 1 || again[0].Seen != held[0].Seen {
		t.Fatalf("repeat changed the held intent: %+v", again)
	}
}

// The state the hash covers is the same on a replay of the same events.
func TestTransfersStateDeterministic(t *testing.T) {
	build := func() []byte {
		n := newKVNode(t)
		n.admit(1)
		n.admit(2)
		for i := range 6 {
			n.receive(n.entry(1+i%2, uint64(500+i%3), fmt.Sprint("d", i), i%4 != 3))
			n.deposit(fmt.Sprint("tx-", i), uint64(500+i%3))
		}
		n.apply(&events.TxConfirmed{Spends: []string{events.DepositID("btc", "tx-0", 0)}})
		return n.stateBytes()
	}
	if !bytes.Equal(build(), build()) {
		t.Fatal("transfers state differs between two folds of the same events")
	}
}

// TestRefundConsumesNoIntent: a deposit the tx refunded (it had no
// intent when the doc was signed) consumes no intent, even if an intent
// of its amount arrived here since: the intent stays for the deposit it
// will pay, at every node alike (whether it learnt of the tx from the
// chain or signed it itself).
func TestRefundConsumesNoIntent(t *testing.T) {
	for _, ownSession := range []bool{false, true} {
		n := newKVNode(t)
		n.admit(1)
		dep := n.deposit("refunded", 5000)
		doc := &projections.TxDoc{Inputs: []string{dep}, Refunds: []projections.Refund{{Deposit: dep, Amount: 5000}}}
		n.receive(n.entry(1, 5000, "late intent", true))
		if got := n.held(); len(got) != 1 {
			t.Fatalf("held %v", got)
		}
		if ownSession {
			n.st.Transfers.ConsumeSigned(doc)
		} else {
			n.apply(&events.TxConfirmed{Chain: "btc", TxID: "refund-tx", Confirmations: 1, Spends: []string{dep}})
		}
		if got := n.held(); len(got) != 1 || len(n.st.Transfers.Consumed()) != 0 {
			t.Fatalf("own session %t: after the refund, held %v, consumed %d; want the intent still held", ownSession, got, len(n.st.Transfers.Consumed()))
		}
	}
}

// TestChainSettle: a deposit enters a round's doc only if the chain
// confirmed it chain_settle before the round starts. Two nodes that see
// it at different moments (one before the round opens, one after) build
// the same doc; the one that saw it first does not pay it early.
func TestChainSettle(t *testing.T) {
	build := func(seenAfter time.Duration) []string {
		n := newKVNode(t)
		n.params.ChainSettle = 5 * time.Second
		n.st = projections.NewState()
		n.apply(&events.Genesis{Params: n.params})
		n.apply(&events.Tick{Time: n.now})
		n.admit(1)
		n.receive(n.entry(1, 700, "pay 700", true))
		roundStart := events.Time(int64(n.now) / int64(time.Minute) * int64(time.Minute)).Add(time.Minute)
		confirmed := roundStart.Add(-3 * time.Second) // inside the settle window of the round
		n.now = confirmed.Add(seenAfter)
		n.apply(&events.Tick{Time: n.now})
		n.apply(&events.DepositObserved{Chain: "btc", TxID: "fresh", Amount: 700, Confirmations: 1, ConfirmedAt: confirmed})
		n.now = roundStart.Add(500 * time.Millisecond) // the round's first tick
		n.apply(&events.Tick{Time: n.now})
		var ids []string
		for _, d := range n.st.Transfers.Valid() {
			ids = append(ids, d.ID)
		}
		n.now = n.now.Add(time.Minute) // the next round: settled
		n.apply(&events.Tick{Time: n.now})
		return append(ids, fmt.Sprint(len(n.st.Transfers.Valid())))
	}
	early, late := build(100*time.Millisecond), build(3*time.Second)
	if !slices.Equal(early, []string{"1"}) || !slices.Equal(late, []string{"1"}) {
		t.Fatalf("seen early: %v, seen late: %v; want the deposit in neither round's doc, then in both nodes' next", early, late)
	}
}
