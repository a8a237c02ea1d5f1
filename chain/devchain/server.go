// Package devchain plays the chain for a local devnet, over HTTP on
// loopback: it knows every node's stake, makes deposits with swap
// intents, and confirms the txs the nodes broadcast once their
// signature verifies under the vault's key. Nodes reach it through
// Client, a chain.Chain.
package devchain

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/chain"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// Stake is one node's stake on the chain.
type Stake struct {
	Peer        events.PeerID
	Tx          string
	Amount      uint64
	ConfirmedAt time.Time
}

// Config is the chain's world.
type Config struct {
	Name   string // the chain's name in deposit ids (default "devnet")
	Stakes []Stake
	// VaultKey is the vault's public key (compressed): a broadcast tx
	// confirms only if its signature verifies under it.
	VaultKey []byte
	// DepositEvery is the mean time between deposits (0: none).
	DepositEvery time.Duration
	// Confirmations a deposit reports (the network's required count).
	Confirmations uint32
	// BlockTime: a broadcast tx confirms this long after it arrives.
	BlockTime time.Duration
	Seed      uint64
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Server is the devnet's chain.
type Server struct {
	cfg Config
	rng *rand.Rand

	mu        sync.Mutex
	facts     []fact
	advanced  chan struct{} // closed and replaced when facts grow
	deposits  int
	made      map[string]bool      // deposit ids the chain made
	spent     map[string]bool      // deposit ids a confirmed tx spent
	confirmed map[events.Hash]bool // M0s confirmed (or about to be)
	intentBy  int
}

// fact is one entry of the chain's history, numbered from 1.
type fact struct {
	Seq    uint64      `json:"seq"`
	Event  *wireEvent  `json:"event,omitempty"`
	Intent *wireIntent `json:"intent,omitempty"`
}

// wireEvent carries an event in its deterministic encoding.
type wireEvent struct {
	Kind events.Kind `json:"kind"`
	Body []byte      `json:"body"`
}

// wireIntent asks one node (By, a peer id) to gossip a swap intent.
type wireIntent struct {
	By     string `json:"by"`
	Amount uint64 `json:"amount"`
	Intent []byte `json:"intent"`
}

func encodeEvent(ev events.Event) (*wireEvent, error) {
	body, err := events.EncodeEvent(nil, ev)
	if err != nil {
		return nil, err
	}
	return &wireEvent{Kind: ev.Kind(), Body: body}, nil
}

// New makes the chain.
func New(cfg Config) *Server {
	if cfg.Name == "" {
		cfg.Name = "devnet"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BlockTime == 0 {
		cfg.BlockTime = 2 * time.Second
	}
	return &Server{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x636861696e)), advanced: make(chan struct{}),
		made: map[string]bool{}, spent: map[string]bool{}, confirmed: map[events.Hash]bool{}}
}

// Handler serves the chain's API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/stake", s.serveStake)
	mux.HandleFunc("GET /v1/facts", s.serveFacts)
	mux.HandleFunc("POST /v1/broadcast", s.serveBroadcast)
	mux.HandleFunc("GET /v1/stats", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, s.Stats()) })
	return mux
}

// Stats is what the chain has seen.
type Stats struct {
	Deposits  int `json:"deposits"`
	Confirmed int `json:"confirmed"`
}

// Stats reports the deposits made and txs confirmed.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Deposits: s.deposits, Confirmed: len(s.confirmed)}
}

// Run makes deposits, each with a swap intent one node is asked to
// gossip (round robin), until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if s.cfg.DepositEvery <= 0 {
		<-ctx.Done()
		return nil
	}
	for {
		wait := time.Duration(s.rng.ExpFloat64() * float64(s.cfg.DepositEvery))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if err := s.Deposit(); err != nil {
			return err
		}
	}
}

// Deposit makes one deposit, its swap intent gossiped first.
func (s *Server) Deposit() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deposits++
	k := s.deposits
	amount := uint64(10_000 + 17*k)
	if len(s.cfg.Stakes) > 0 {
		by := s.cfg.Stakes[s.intentBy%len(s.cfg.Stakes)].Peer
		s.intentBy++
		s.appendLocked(fact{Intent: &wireIntent{By: peer.ID(by).String(), Amount: amount, Intent: []byte(fmt.Sprintf("pay %d to dest-%d", amount, k))}})
	}
	now := events.TimeOf(s.cfg.Now())
	s.made[events.DepositID(s.cfg.Name, fmt.Sprintf("deposit-%d", k), 0)] = true
	ev, err := encodeEvent(&events.DepositObserved{
		Chain: s.cfg.Name, TxID: fmt.Sprintf("deposit-%d", k), Amount: amount, Sender: fmt.Sprintf("sender-%d", k),
		Confirmations: s.cfg.Confirmations, SeenAt: now, ConfirmedAt: now,
	})
	if err != nil {
		return err
	}
	s.appendLocked(fact{Event: ev})
	return nil
}

func (s *Server) appendLocked(f fact) {
	f.Seq = uint64(len(s.facts)) + 1
	s.facts = append(s.facts, f)
	close(s.advanced)
	s.advanced = make(chan struct{})
}

type stakeRequest struct {
	Peer string `json:"peer"`
	Tx   string `json:"tx"`
}

func (s *Server) serveStake(w http.ResponseWriter, r *http.Request) {
	var req stakeRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "stake: "+err.Error())
		return
	}
	id, err := peer.Decode(req.Peer)
	if err != nil {
		writeError(w, http.StatusBadRequest, "stake: peer: "+err.Error())
		return
	}
	ans := events.StakeChecked{Peer: events.PeerID(id), StakeTx: req.Tx}
	for _, st := range s.cfg.Stakes {
		if st.Tx == req.Tx {
			ans.Found, ans.Confirmed, ans.Amount, ans.BoundPeer = true, true, st.Amount, st.Peer
			ans.ConfirmedAt = events.TimeOf(st.ConfirmedAt)
		}
	}
	ev, err := encodeEvent(&ans)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, ev)
}

type factsReply struct {
	Facts []fact `json:"facts"`
}

// serveFacts returns the facts after ?after=SEQ, waiting up to ?wait
// (a duration, at most 30 s) for one when there is none yet.
func (s *Server) serveFacts(w http.ResponseWriter, r *http.Request) {
	after, err := strconv.ParseUint(r.URL.Query().Get("after"), 10, 64)
	if err != nil && r.URL.Query().Get("after") != "" {
		writeError(w, http.StatusBadRequest, "facts: after: want a number")
		return
	}
	wait, _ := time.ParseDuration(r.URL.Query().Get("wait"))
	wait = min(max(wait, 0), 30*time.Second)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		var out []fact
		if after < uint64(len(s.facts)) {
			out = append(out, s.facts[after:]...)
		}
		advanced := s.advanced
		s.mu.Unlock()
		if len(out) > 0 || wait == 0 {
			writeJSON(w, http.StatusOK, factsReply{Facts: out})
			return
		}
		select {
		case <-advanced:
		case <-deadline.C:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

// serveBroadcast takes a signed tx: its doc must hash to the M0 the
// signature covers, the signature must verify under the vault's key,
// and every input must be a deposit of this chain not spent yet. One
// confirmation per doc, whoever broadcasts it and however often.
func (s *Server) serveBroadcast(w http.ResponseWriter, r *http.Request) {
	var tx chain.SignedTx
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&tx); err != nil {
		writeError(w, http.StatusBadRequest, "broadcast: "+err.Error())
		return
	}
	if sha512.Sum512_256(tx.Doc) != tx.M0 {
		writeError(w, http.StatusBadRequest, "broadcast: the doc does not hash to the m0 signed")
		return
	}
	var doc projections.TxDoc
	if err := events.Unmarshal(tx.Doc, &doc); err != nil {
		writeError(w, http.StatusBadRequest, "broadcast: the doc does not decode: "+err.Error())
		return
	}
	if !tss.VerifyCompact(s.cfg.VaultKey, tx.M0[:], tx.Signature) {
		writeError(w, http.StatusBadRequest, "broadcast: the signature does not verify under the vault's key")
		return
	}
	s.mu.Lock()
	if s.confirmed[tx.M0] {
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]bool{"accepted": true})
		return
	}
	spends := slices.Clone(doc.Inputs)
	slices.Sort(spends)
	for _, in := range spends {
		if !s.made[in] || s.spent[in] {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, fmt.Sprintf("broadcast: input %s is not an unspent deposit of this chain", in))
			return
		}
	}
	for _, in := range spends {
		s.spent[in] = true
	}
	s.confirmed[tx.M0] = true
	s.mu.Unlock()
	payouts := []events.TxPayout{}
	for _, p := range doc.Payouts {
		payouts = append(payouts, events.TxPayout{Deposit: p.Deposit, Intent: p.Intent})
	}
	time.AfterFunc(s.cfg.BlockTime, func() { s.confirm(tx.Session, spends, payouts) })
	writeJSON(w, http.StatusOK, map[string]bool{"accepted": true})
}

// confirm records a broadcast tx's confirmation, a block later.
func (s *Server) confirm(session events.Hash, spends []string, payouts []events.TxPayout) {
	now := s.cfg.Now()
	ev, err := encodeEvent(&events.TxConfirmed{
		Chain: s.cfg.Name, TxID: session.String(), Height: uint64(now.Unix()), Confirmations: 1, Spends: spends, Payouts: payouts,
	})
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appendLocked(fact{Event: ev})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
