package projections

import (
	"bytes"
	"cmp"
	"crypto/sha512"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
)

// Deposit is a deposit to the vault as this node has seen it.
type Deposit struct {
	ID            string      `msgpack:"id"`
	Amount        uint64      `msgpack:"a"`
	Sender        string      `msgpack:"s"`
	Confirmations uint32      `msgpack:"c"`
	FirstSeen     events.Time `msgpack:"t"`  // tick time it was first observed
	ConfirmedAt   events.Time `msgpack:"ca"` // the chain's confirmation time, if known
	Consumed      bool        `msgpack:"x"`  // spent by a confirmed or signed tx
	// PaidBy is the intent consumed with it (zero: none, a refund or
	// spent before this node paired it).
	PaidBy events.Hash `msgpack:"pb"`
	// Observed: a DepositObserved named it (false: only a spend did).
	Observed bool `msgpack:"o"`
}

// Intent is a swap intent of the K/V store, keyed by the exact amount.
type Intent struct {
	ID     events.Hash   `msgpack:"id"` // events.IntentID of the signed body
	Amount uint64        `msgpack:"a"`
	Intent []byte        `msgpack:"i"`
	From   events.PeerID `msgpack:"f"`
	Seen   events.Time   `msgpack:"t"` // tick time this node first held it
	Paid   string        `msgpack:"p"` // the deposit it paid, once consumed
	// Msg is the envelope as signed, re-gossiped for anti-entropy. The log
	// holds it already, and ID binds its body: kept out of the state.
	Msg events.Signed `msgpack:"-"`
}

// IntentVerdict is what the K/V store made of one kv message.
type IntentVerdict uint8

// Intent verdicts. Every kv message stays in the log; the verdict only
// says whether and why it did not count.
const (
	IntentAccepted    IntentVerdict = iota
	IntentUndecodable               // not a KVEntry, or amount zero
	IntentKnown                     // held or consumed already: a repeat changes nothing
	IntentNotAdmitted               // its signer has no valid stake answer here
	IntentBadPoW                    // the proof of work does not verify
	IntentOverBound                 // not among its signer's IntentsPerPeer smallest ids
	intentVerdictCount
)

var intentVerdictNames = [intentVerdictCount]string{
	"accepted", "undecodable", "known", "signer not admitted", "bad proof of work", "over the per-peer bound",
}

func (v IntentVerdict) String() string {
	if v < intentVerdictCount {
		return intentVerdictNames[v]
	}
	return "unknown"
}

// Transfers follows deposits and swap intents and says what a round can
// sign (PROTOCOL.md section 3; the rules are in docs/protocol.md).
type Transfers struct {
	params   events.Params
	now      events.Time
	peers    *Peers
	deposits map[string]*Deposit
	// held are the intents in force: accepted and not yet consumed.
	held map[events.Hash]*Intent
	// consumed intents are remembered for good, so a copy re-gossiped by
	// a node that has not seen the payout yet never puts one back.
	consumed map[events.Hash]*Intent
	verdicts [intentVerdictCount]uint64
	// pairs caches which held intent pays which deposit (nil: recompute).
	// Derived from the fields above only, so it never differs on replay.
	pairs map[string]*Intent
}

// NewTransfers returns an empty transfers projection. It reads peers (which
// must be folded before it) to admit intents only from admitted peers; nil
// admits nobody but the node itself.
func NewTransfers(peers *Peers) *Transfers {
	return &Transfers{peers: peers, deposits: map[string]*Deposit{}, held: map[events.Hash]*Intent{}, consumed: map[events.Hash]*Intent{}}
}

// Apply implements Projection.
func (t *Transfers) Apply(_ uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		t.params = e.Params
	case *events.Tick:
		if t.roundCut(e.Time) != t.roundCut(t.now) {
			t.pairs = nil // the cut moved: other deposits count
		}
		t.now = e.Time
	case *events.DepositObserved:
		id := events.DepositID(e.Chain, e.TxID, e.Vout)
		d, ok := t.deposits[id]
		if !ok {
			d = &Deposit{ID: id}
			t.deposits[id] = d
		}
		if !d.Observed {
			// new, or spent before this node saw it (Consume): now known
			d.Amount, d.Sender, d.FirstSeen, d.Observed = e.Amount, e.Sender, t.now, true
		}
		d.Confirmations = max(d.Confirmations, e.Confirmations)
		if d.ConfirmedAt == 0 && e.Confirmations >= t.params.Confirmations {
			d.ConfirmedAt = e.ConfirmedAt
		}
		t.pairs = nil
	case *events.KVEntryReceived:
		t.applyKV(&e.Msg, false)
	case *events.MessageSent:
		if e.Msg.Type == events.TypeKVEntry && e.Msg.From == t.params.NodeID {
			t.applyKV(&e.Msg, true) // our own entries count too
		}
	case *events.TxConfirmed:
		paid := map[string][]byte{}
		for _, p := range e.Payouts {
			paid[p.Deposit] = p.Intent
		}
		t.spend(e.Spends, paid)
	}
}

// CheckKV judges a kv message against the store without changing it.
func (t *Transfers) CheckKV(m *events.Signed) IntentVerdict {
	v, _ := t.checkKV(m, m.From == t.params.NodeID)
	return v
}

func (t *Transfers) checkKV(m *events.Signed, own bool) (IntentVerdict, *events.KVEntry) {
	var kv events.KVEntry
	if events.Unmarshal(m.Body, &kv) != nil || kv.Amount == 0 {
		return IntentUndecodable, nil
	}
	id := events.IntentID(m.Body)
	if t.held[id] != nil || t.consumed[id] != nil {
		return IntentKnown, &kv
	}
	// Cheap checks first: argon2id is the expensive one.
	if !own && !t.admitted(m.From) {
		return IntentNotAdmitted, &kv
	}
	if !events.VerifyIntentPoW(t.params, &kv) {
		return IntentBadPoW, &kv
	}
	return IntentAccepted, &kv
}

// admitted: the peer's stake answer counts now (PROTOCOL.md section 1).
// Liveness is not required: a peer whose pings are late is still admitted.
func (t *Transfers) admitted(p events.PeerID) bool {
	if t.peers == nil {
		return false
	}
	ps, ok := t.peers.Get(p)
	return ok && t.peers.StakeProblem(ps) == ""
}

func (t *Transfers) applyKV(m *events.Signed, own bool) {
	verdict, kv := t.checkKV(m, own)
	if verdict == IntentAccepted {
		in := &Intent{ID: events.IntentID(m.Body), Amount: kv.Amount, Intent: kv.Intent, From: m.From, Seen: t.now, Msg: *m}
		t.held[in.ID] = in
		t.pairs = nil
		if t.bound(m.From, in.ID) {
			verdict = IntentOverBound
		}
	}
	t.verdicts[verdict]++
}

// bound keeps a peer's IntentsPerPeer held intents with the smallest ids
// and drops the rest: a rule that gives the same set whatever order the
// intents arrived in. It reports whether the intent just added was
// dropped.
func (t *Transfers) bound(from events.PeerID, added events.Hash) bool {
	var mine []events.Hash
	for id, in := range t.held {
		if in.From == from {
			mine = append(mine, id)
		}
	}
	if len(mine) <= t.params.IntentsPerPeer {
		return false
	}
	slices.SortFunc(mine, func(a, b events.Hash) int { return bytes.Compare(a[:], b[:]) })
	dropped := false
	for _, id := range mine[t.params.IntentsPerPeer:] {
		delete(t.held, id)
		dropped = dropped || id == added
	}
	return dropped
}

// pairing says which held intent pays which deposit: per amount, the
// confirmed unconsumed deposits sorted by id and the held intents sorted
// by id are paired in order, the k-th deposit with the k-th intent. So
// one intent pays one deposit, a second deposit of the amount is not paid
// to the first's intent, and every node with the same deposits and
// intents pairs alike, whatever order they came in. (Deposit ids, not
// first-seen times: those differ between nodes by their chain lag.)
func (t *Transfers) pairing() map[string]*Intent {
	if t.pairs != nil {
		return t.pairs
	}
	deps := map[uint64][]string{}
	cut := t.roundCut(t.now)
	for _, d := range t.deposits {
		if !d.Consumed && d.Confirmations >= t.params.Confirmations && d.Observed && d.settledBy(cut) {
			deps[d.Amount] = append(deps[d.Amount], d.ID)
		}
	}
	ints := map[uint64][]*Intent{}
	for _, in := range t.held {
		if len(deps[in.Amount]) > 0 {
			ints[in.Amount] = append(ints[in.Amount], in)
		}
	}
	t.pairs = map[string]*Intent{}
	for amount, list := range ints {
		ids := deps[amount]
		slices.Sort(ids)
		slices.SortFunc(list, func(a, b *Intent) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		for k := range min(len(ids), len(list)) {
			t.pairs[ids[k]] = list[k]
		}
	}
	return t.pairs
}

// ConsumeSigned consumes what a doc this node signed spends: each payout
// with the intent it pays, each refund with none.
func (t *Transfers) ConsumeSigned(doc *TxDoc) {
	paid := map[string][]byte{}
	for _, p := range doc.Payouts {
		paid[p.Deposit] = p.Intent
	}
	t.spend(doc.Inputs, paid)
}

// spend consumes the deposits a tx spent, each paid-out one with the
// intent it paid (by deposit: intent bytes). A spent deposit the tx does
// not pay out was a refund (or the chain did not say): it consumes no
// intent, whatever this node would pair with it now.
func (t *Transfers) spend(deposits []string, paid map[string][]byte) {
	for _, id := range deposits {
		var in *Intent
		if intent, ok := paid[id]; ok {
			in = t.heldMatching(id, intent)
		}
		t.consume(id, in)
	}
}

// heldMatching is the held intent a tx paid deposit id to: the one with
// those bytes and the deposit's amount (the smallest id if several).
func (t *Transfers) heldMatching(id string, intent []byte) *Intent {
	d, ok := t.deposits[id]
	if !ok {
		return nil
	}
	for _, in := range t.Held() {
		if in.Amount == d.Amount && bytes.Equal(in.Intent, intent) {
			return in
		}
	}
	return nil
}

func (t *Transfers) consume(id string, in *Intent) {
	d, ok := t.deposits[id]
	if !ok {
		d = &Deposit{ID: id}
		t.deposits[id] = d
	}
	if d.Consumed {
		return
	}
	if in != nil {
		delete(t.held, in.ID)
		in.Paid = id
		t.consumed[in.ID] = in
		d.PaidBy = in.ID
	}
	d.Consumed = true
	t.pairs = nil
}

// Knows reports whether an intent is held or was consumed here: a copy of
// it changes nothing.
func (t *Transfers) Knows(id events.Hash) bool { return t.held[id] != nil || t.consumed[id] != nil }

// Held returns the intents in force, sorted by id.
func (t *Transfers) Held() []*Intent { return sortedIntents(t.held) }

// Consumed returns the intents that paid a deposit, sorted by id.
func (t *Transfers) Consumed() []*Intent { return sortedIntents(t.consumed) }

// PaidBy returns the intent that pays a deposit now, if any.
func (t *Transfers) PaidBy(deposit string) (*Intent, bool) {
	in, ok := t.pairing()[deposit]
	return in, ok
}

// Deposits returns every deposit seen, sorted by id.
func (t *Transfers) Deposits() []*Deposit {
	out := make([]*Deposit, 0, len(t.deposits))
	for _, d := range t.deposits {
		out = append(out, d)
	}
	slices.SortFunc(out, func(a, b *Deposit) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// IntentVerdicts counts kv messages per verdict.
func (t *Transfers) IntentVerdicts() map[IntentVerdict]uint64 {
	out := map[IntentVerdict]uint64{}
	for v, n := range t.verdicts {
		if n > 0 {
			out[IntentVerdict(v)] = n
		}
	}
	return out
}

func sortedIntents(m map[events.Hash]*Intent) []*Intent {
	out := make([]*Intent, 0, len(m))
	for _, in := range m {
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b *Intent) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// Payout pays a deposit's amount out as its swap intent says.
type Payout struct {
	Deposit string `msgpack:"d"`
	Amount  uint64 `msgpack:"a"`
	Intent  []byte `msgpack:"i"`
}

// Refund returns a deposit nobody claimed to its sender.
type Refund struct {
	Deposit string `msgpack:"d"`
	Amount  uint64 `msgpack:"a"`
	To      string `msgpack:"t"`
}

// TxDoc is the candidate transaction of a round in its canonical form:
// tx_sign_doc. Its hash is the round's m0.
type TxDoc struct {
	Round int64 `msgpack:"r"`
	// The participant table: the key and its committee in party order.
	KeyID   events.Hash     `msgpack:"k"`
	Parties []events.PeerID `msgpack:"p"`
	Inputs  []string        `msgpack:"in"` // deposit ids, sorted
	Payouts []Payout        `msgpack:"po"`
	Refunds []Refund        `msgpack:"rf"`
	// Reward goes to the committee member at index round mod n.
	Reward events.PeerID `msgpack:"rw"`
}

// Encode returns the canonical bytes of the doc.
func (d *TxDoc) Encode() []byte {
	b, err := events.Marshal(nil, d)
	if err != nil {
		panic(fmt.Sprintf("encode tx doc: %v", err))
	}
	return b
}

// M0 is H(tx_sign_doc).
func (d *TxDoc) M0() events.Hash { return sha512.Sum512_256(d.Encode()) }

// M1 is H(peer_id || tx_sign_doc): proof that peer built the same doc.
func (d *TxDoc) M1(peer events.PeerID) events.Hash {
	return sha512.Sum512_256(append([]byte(peer), d.Encode()...))
}

// Valid returns the deposits that are valid transfers or refunds now,
// sorted by id: confirmed, unspent, and either paired with a held swap
// intent of the exact amount (pairing) or unpaired for longer than
// refund_after.
func (t *Transfers) Valid() []*Deposit {
	var out []*Deposit
	for _, d := range t.deposits {
		if t.IsValid(d.ID) {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *Deposit) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// IsValid reports whether a deposit id is a valid transfer or refund in
// the current round: confirmed and settled by the round's cut (see
// roundCut), unspent, and paired with an intent or, unpaired, confirmed
// refund_after before the cut.
func (t *Transfers) IsValid(id string) bool {
	d, ok := t.deposits[id]
	cut := t.roundCut(t.now)
	if !ok || d.Consumed || d.Confirmations < t.params.Confirmations || !d.Observed || !d.settledBy(cut) {
		return false
	}
	_, matched := t.pairing()[id]
	return matched || cut.Sub(d.confirmedAt()) >= t.params.RefundAfter
}

// roundCut is the chain time by which a deposit must be confirmed to
// count in the round under way at now: chain_settle before the round's
// start. Every node of the round applies the same cut to the same chain
// times, so they build the same doc even though each sees the chain a
// moment apart.
func (t *Transfers) roundCut(now events.Time) events.Time {
	epoch := int64(t.params.SigningEpoch)
	if epoch <= 0 {
		return now
	}
	return events.Time(int64(now)/epoch*epoch) - events.Time(t.params.ChainSettle)
}

// confirmedAt is the chain's confirmation time, or this node's first
// sight where the adapter did not say.
func (d *Deposit) confirmedAt() events.Time {
	if d.ConfirmedAt != 0 {
		return d.ConfirmedAt
	}
	return d.FirstSeen
}

func (d *Deposit) settledBy(cut events.Time) bool { return d.confirmedAt() <= cut }

// Doc builds round r's candidate tx for the committee of key, or false
// when there is nothing to transfer (no transfer, no round).
func (t *Transfers) Doc(r int64, key *events.KeyPublished) (*TxDoc, bool) {
	valid := t.Valid()
	if len(valid) == 0 || key == nil || len(key.SharePoints) == 0 {
		return nil, false
	}
	doc := &TxDoc{Round: r, KeyID: key.KeyID}
	for _, sp := range key.SharePoints {
		doc.Parties = append(doc.Parties, sp.Peer)
	}
	doc.Reward = doc.Parties[int(r%int64(len(doc.Parties)))]
	for _, d := range valid {
		doc.Inputs = append(doc.Inputs, d.ID)
		if intent, ok := t.pairing()[d.ID]; ok {
			doc.Payouts = append(doc.Payouts, Payout{Deposit: d.ID, Amount: d.Amount, Intent: intent.Intent})
		} else {
			doc.Refunds = append(doc.Refunds, Refund{Deposit: d.ID, Amount: d.Amount, To: d.Sender})
		}
	}
	return doc, true
}

type transfersState struct {
	Deposits []*Deposit `msgpack:"d"`
	Intents  []*Intent  `msgpack:"i"` // held, sorted by id
	Consumed []*Intent  `msgpack:"c"` // sorted by id
	Verdicts []uint64   `msgpack:"v"`
}

// AppendState implements Projection.
func (t *Transfers) AppendState(dst []byte) []byte {
	st := transfersState{Deposits: t.Deposits(), Intents: t.Held(), Consumed: t.Consumed(), Verdicts: t.verdicts[:]}
	out, err := events.Marshal(dst, &st)
	if err != nil {
		panic(fmt.Sprintf("encode transfers state: %v", err))
	}
	return out
}
