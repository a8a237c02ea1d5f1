package projections

import (
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
	FirstSeen     events.Time `msgpack:"t"` // tick time it was first observed
	Consumed      bool        `msgpack:"x"` // spent by a confirmed or signed tx
}

// Intent is a swap intent of the K/V store, keyed by the exact amount.
type Intent struct {
	Amount uint64        `msgpack:"a"`
	Intent []byte        `msgpack:"i"`
	From   events.PeerID `msgpack:"f"`
}

// Transfers follows deposits and swap intents and says what a round can
// sign (PROTOCOL.md section 3).
type Transfers struct {
	params   events.Params
	now      events.Time
	deposits map[string]*Deposit
	intents  map[uint64]*Intent // first entry per amount wins: immutable once set
}

// NewTransfers returns an empty transfers projection.
func NewTransfers() *Transfers {
	return &Transfers{deposits: map[string]*Deposit{}, intents: map[uint64]*Intent{}}
}

// Apply implements Projection.
func (t *Transfers) Apply(_ uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		t.params = e.Params
	case *events.Tick:
		t.now = e.Time
	case *events.DepositObserved:
		id := events.DepositID(e.Chain, e.TxID, e.Vout)
		d, ok := t.deposits[id]
		if !ok {
			d = &Deposit{ID: id, Amount: e.Amount, Sender: e.Sender, FirstSeen: t.now}
			t.deposits[id] = d
		}
		d.Confirmations = max(d.Confirmations, e.Confirmations)
	case *events.KVEntryReceived:
		t.applyKV(&e.Msg)
	case *events.MessageSent:
		if e.Msg.Type == events.TypeKVEntry {
			t.applyKV(&e.Msg) // our own entries count too
		}
	case *events.TxConfirmed:
		for _, id := range e.Spends {
			t.Consume(id)
		}
	}
}

func (t *Transfers) applyKV(m *events.Signed) {
	var kv events.KVEntry
	if events.Unmarshal(m.Body, &kv) != nil || kv.Amount == 0 {
		return
	}
	if _, taken := t.intents[kv.Amount]; !taken {
		t.intents[kv.Amount] = &Intent{Amount: kv.Amount, Intent: kv.Intent, From: m.From}
	}
}

// Consume marks a deposit as spent.
func (t *Transfers) Consume(id string) {
	if d, ok := t.deposits[id]; ok {
		d.Consumed = true
	}
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
// sorted by id: confirmed, unspent, and either matched by a swap intent of
// the exact amount or unmatched for longer than refund_after.
func (t *Transfers) Valid() []*Deposit {
	var out []*Deposit
	for _, d := range t.deposits {
		if d.Consumed || d.Confirmations < t.params.Confirmations {
			continue
		}
		if _, matched := t.intents[d.Amount]; matched || t.now.Sub(d.FirstSeen) >= t.params.RefundAfter {
			out = append(out, d)
		}
	}
	slices.SortFunc(out, func(a, b *Deposit) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// IsValid reports whether a deposit id is a valid transfer or refund now.
func (t *Transfers) IsValid(id string) bool {
	d, ok := t.deposits[id]
	if !ok || d.Consumed || d.Confirmations < t.params.Confirmations {
		return false
	}
	_, matched := t.intents[d.Amount]
	return matched || t.now.Sub(d.FirstSeen) >= t.params.RefundAfter
}

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
		if intent, ok := t.intents[d.Amount]; ok {
			doc.Payouts = append(doc.Payouts, Payout{Deposit: d.ID, Amount: d.Amount, Intent: intent.Intent})
		} else {
			doc.Refunds = append(doc.Refunds, Refund{Deposit: d.ID, Amount: d.Amount, To: d.Sender})
		}
	}
	return doc, true
}

type transfersState struct {
	Deposits []*Deposit `msgpack:"d"`
	Intents  []*Intent  `msgpack:"i"`
}

// AppendState implements Projection.
func (t *Transfers) AppendState(dst []byte) []byte {
	st := transfersState{}
	for _, d := range t.deposits {
		st.Deposits = append(st.Deposits, d)
	}
	slices.SortFunc(st.Deposits, func(a, b *Deposit) int { return cmp.Compare(a.ID, b.ID) })
	for _, i := range t.intents {
		st.Intents = append(st.Intents, i)
	}
	slices.SortFunc(st.Intents, func(a, b *Intent) int { return cmp.Compare(a.Amount, b.Amount) })
	out, err := events.Marshal(dst, &st)
	if err != nil {
		panic(fmt.Sprintf("encode transfers state: %v", err))
	}
	return out
}
