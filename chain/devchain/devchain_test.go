package devchain

import (
	"context"
	"crypto/sha512"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"

	"github.com/metanode/metanode/chain"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// compactSign signs digest with key as a tss signature looks: r || s.
func compactSign(key *btcec.PrivateKey, digest []byte) []byte {
	sig := btcecdsa.Sign(key, digest)
	der := sig.Serialize()
	// DER: 0x30 len 0x02 rlen r 0x02 slen s
	rlen := int(der[3])
	r := der[4 : 4+rlen]
	s := der[4+rlen+2:]
	out := make([]byte, 64)
	r = r[max(0, len(r)-32):]
	s = s[max(0, len(s)-32):]
	copy(out[32-len(r):32], r)
	copy(out[64-len(s):], s)
	return out
}

type watched struct {
	mu      sync.Mutex
	facts   []events.Event
	intents []events.KVEntry
}

func (w *watched) count() (int, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.facts), len(w.intents)
}

// TestChainService: stakes are answered as configured, deposits and
// their intents reach the watchers (intents only the node asked to
// gossip them), a tx confirms once and only with a signature under the
// vault's key.
func TestChainService(t *testing.T) {
	vault, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	a, b := eventstest.Peer(1), eventstest.Peer(2)
	staked := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := New(Config{Stakes: []Stake{{Peer: a, Tx: "stake-a", Amount: 100, ConfirmedAt: staked}, {Peer: b, Tx: "stake-b", Amount: 50, ConfirmedAt: staked}},
		VaultKey: vault.PubKey().SerializeCompressed(), Confirmations: 1, BlockTime: 10 * time.Millisecond})
	web := httptest.NewServer(srv.Handler())
	defer web.Close()
	clientA := NewClient(web.URL, a, nil)

	answers := make(chan events.StakeChecked, 2)
	clientA.CheckStake(b, "stake-b", func(s events.StakeChecked) { answers <- s })
	clientA.CheckStake(b, "made-up", func(s events.StakeChecked) { answers <- s })
	for range 2 {
		s := <-answers
		switch s.StakeTx {
		case "stake-b":
			if !s.Found || !s.Confirmed || s.Amount != 50 || s.BoundPeer != b || s.ConfirmedAt != events.TimeOf(staked) || s.Error != "" {
				t.Fatalf("a real stake: %+v", s)
			}
		default:
			if s.Found || s.Error != "" {
				t.Fatalf("a made-up stake: %+v", s)
			}
		}
	}
	// an unreachable chain answers with an error, not silence
	NewClient("http://127.0.0.1:1", a, nil).CheckStake(b, "stake-b", func(s events.StakeChecked) { answers <- s })
	if s := <-answers; s.Error == "" {
		t.Fatalf("an unreachable chain: %+v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var atA, atB watched
	go clientA.Watch(ctx, func(ev events.Event) { atA.mu.Lock(); atA.facts = append(atA.facts, ev); atA.mu.Unlock() },
		func(kv events.KVEntry) { atA.mu.Lock(); atA.intents = append(atA.intents, kv); atA.mu.Unlock() })
	go NewClient(web.URL, b, nil).Watch(ctx, func(ev events.Event) { atB.mu.Lock(); atB.facts = append(atB.facts, ev); atB.mu.Unlock() },
		func(kv events.KVEntry) { atB.mu.Lock(); atB.intents = append(atB.intents, kv); atB.mu.Unlock() })
	for range 4 {
		if err := srv.Deposit(); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, func() bool { fa, _ := atA.count(); fb, _ := atB.count(); return fa == 4 && fb == 4 })
	_, ia := atA.count()
	_, ib := atB.count()
	if ia != 2 || ib != 2 {
		t.Fatalf("intents handed out %d and %d, want 2 each (round robin)", ia, ib)
	}
	if dep, ok := atA.facts[0].(*events.DepositObserved); !ok || dep.Confirmations != 1 || dep.ConfirmedAt == 0 {
		t.Fatalf("first fact: %+v", atA.facts[0])
	}

	doc := projections.TxDoc{Round: 7, Inputs: []string{events.DepositID("devnet", "deposit-1", 0)},
		Payouts: []projections.Payout{{Deposit: events.DepositID("devnet", "deposit-1", 0), Amount: 10_017, Intent: []byte("pay")}}}
	m0 := doc.M0()
	tx := chain.SignedTx{Session: sha512.Sum512_256([]byte("session")), M0: m0, Doc: doc.Encode()}
	other, _ := btcec.NewPrivateKey()
	tx.Signature = compactSign(other, m0[:])
	if err := clientA.Broadcast(ctx, tx); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("a tx signed by another key: %v", err)
	}
	// a doc other than the one signed
	forged := doc
	forged.Inputs = []string{events.DepositID("devnet", "deposit-2", 0)}
	tx.Doc, tx.Signature = forged.Encode(), compactSign(vault, m0[:])
	if err := clientA.Broadcast(ctx, tx); err == nil || !strings.Contains(err.Error(), "does not hash") {
		t.Fatalf("a doc other than the signed one: %v", err)
	}
	// a signed doc spending a deposit the chain never made
	invented := projections.TxDoc{Round: 8, Inputs: []string{events.DepositID("devnet", "deposit-99", 0)}}
	im0 := invented.M0()
	if err := clientA.Broadcast(ctx, chain.SignedTx{Session: tx.Session, M0: im0, Doc: invented.Encode(), Signature: compactSign(vault, im0[:])}); err == nil || !strings.Contains(err.Error(), "not an unspent deposit") {
		t.Fatalf("a tx spending an invented deposit: %v", err)
	}
	tx.Doc = doc.Encode()
	for range 2 { // twice: confirmed once
		if err := clientA.Broadcast(ctx, tx); err != nil {
			t.Fatal(err)
		}
	}
	// another doc spending the same deposit: a double spend
	again := doc
	again.Round = 9
	am0 := again.M0()
	if err := clientA.Broadcast(ctx, chain.SignedTx{Session: tx.Session, M0: am0, Doc: again.Encode(), Signature: compactSign(vault, am0[:])}); err == nil || !strings.Contains(err.Error(), "not an unspent deposit") {
		t.Fatalf("a double spend: %v", err)
	}
	waitUntil(t, func() bool { fa, _ := atA.count(); return fa == 5 })
	time.Sleep(50 * time.Millisecond) // a second confirmation would land within a block time
	atA.mu.Lock()
	defer atA.mu.Unlock()
	if len(atA.facts) != 5 {
		t.Fatalf("%d facts, want 4 deposits and one confirmation", len(atA.facts))
	}
	conf, ok := atA.facts[4].(*events.TxConfirmed)
	if !ok || conf.TxID != tx.Session.String() || len(conf.Spends) != 1 || len(conf.Payouts) != 1 || string(conf.Payouts[0].Intent) != "pay" {
		t.Fatalf("confirmation: %+v", atA.facts[4])
	}
	if srv.Stats().Confirmed != 1 || srv.Stats().Deposits != 4 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
