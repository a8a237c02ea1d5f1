package sim

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// Swap intents in the simulation: the world mines a valid proof of work
// for every intent it sends, sometimes deposits an amount twice (so that
// S3, no intent pays two deposits, is exercised), and an intent-squat node
// registers intents for the amounts it predicts the world will deposit.

// IntentSquat registers intents for the world's next amounts before their
// deposits appear, half of them without a valid proof of work, more than
// the per-peer bound allows.
const IntentSquat Behaviour = "intent-squat"

// Proof-of-work parameters of a run: cheap, so a run stays fast (about
// 16 argon2id evaluations of 64 KiB to mine an intent), yet one in 16
// random nonces is all that passes.
const (
	simPoWTime      = 1
	simPoWMemoryKiB = 64
	simPoWBits      = 4
	simIntentsBound = 8
)

// repeatEvery: every repeatEvery-th deposit repeats the amount of the one
// before it.
const repeatEvery = 5

// squatEvery is how often a squatter registers its next batch, and
// squatAhead how many of the world's next amounts it covers.
const (
	squatEvery = 30 * time.Second
	squatAhead = 12
)

func intentParams(p *events.Params) {
	p.IntentPoWTime, p.IntentPoWMemoryKiB, p.IntentPoWBits = simPoWTime, simPoWMemoryKiB, simPoWBits
	p.IntentsPerPeer = simIntentsBound
}

// worldAmount is the amount of the world's deposit number k (from 1).
func worldAmount(k int) uint64 {
	if k > 1 && k%repeatEvery == 0 {
		k-- // the same amount as the deposit before
	}
	return uint64(10_000 + 17*k)
}

// squatState is what the squatters did so far, and the payouts of every
// signing session's doc, for the chain to report with the tx.
type squatState struct {
	next    events.Time
	sent    int
	payouts map[events.Hash][]events.TxPayout
}

// notePayouts remembers the payouts of the doc a session signs.
func (s *Sim) notePayouts(session events.Hash, doc *projections.TxDoc) {
	if doc == nil || s.squatting.payouts[session] != nil {
		return
	}
	if s.squatting.payouts == nil {
		s.squatting.payouts = map[events.Hash][]events.TxPayout{}
	}
	out := []events.TxPayout{}
	for _, p := range doc.Payouts {
		out = append(out, events.TxPayout{Deposit: p.Deposit, Intent: p.Intent})
	}
	s.squatting.payouts[session] = out
}

// sendIntent has node by gossip a swap intent with a valid proof of work,
// mined from a nonce derived from the seed and the deposit number, so a
// run stays reproducible.
func (s *Sim) sendIntent(by *simNode, amount uint64, intent []byte) error {
	kv := events.KVEntry{Amount: amount, Intent: intent}
	start := binary.BigEndian.Uint64(derive("sim-intent-nonce", s.cfg.Seed, s.deposits))
	events.MineIntentPoW(s.params, &kv, start)
	return s.ignoreNotLeader(by, by.node.SendIntent(kv))
}

// squat has every intent-squat node register intents for the world's
// next squatAhead amounts, every squatEvery: the odd ones with a valid
// proof of work, the even ones with a nonce that fails it.
func (s *Sim) squat() error {
	if s.now < s.squatting.next {
		return nil
	}
	s.squatting.next = s.now.Add(squatEvery)
	for _, n := range s.nodes {
		if !n.has(IntentSquat) {
			continue
		}
		for k := 1; k <= squatAhead; k++ {
			s.squatting.sent++
			kv := events.KVEntry{Amount: worldAmount(s.deposits + k), Intent: []byte(fmt.Sprintf("squat %d by node %d", s.squatting.sent, n.index))}
			start := binary.BigEndian.Uint64(derive("sim-squat-nonce", s.cfg.Seed, s.squatting.sent))
			if k%2 == 1 {
				events.MineIntentPoW(s.params, &kv, start)
			} else {
				kv.Nonce = badNonce(s.params, &kv, start)
			}
			if err := s.ignoreNotLeader(n, n.node.SendIntent(kv)); err != nil {
				return err
			}
		}
	}
	return nil
}

// badNonce returns the first nonce from start that is not a valid proof
// of work (at sim difficulty a random one passes one time in 16).
func badNonce(p events.Params, kv *events.KVEntry, start uint64) []byte {
	for i := start; ; i++ {
		kv.Nonce = binary.BigEndian.AppendUint64(nil, i)
		if !events.VerifyIntentPoW(p, kv) {
			return kv.Nonce
		}
	}
}
