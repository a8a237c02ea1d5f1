package sim

import (
	"bytes"
	"context"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// With Config.TSS the simulator signs with real tss-lib: the key is the
// committed fixture key of the run's committee (node i holds fixture party
// i's share; a party is its tss key, the peer id only labels it), every
// share proof comes from a real share, and when
// every member of a threshold set has started a signing session the
// simulator runs that session for real, in process, with each party's
// randomness seeded from the run's seed and the session nonce (tss-lib v3
// then signs reproducibly). The outcome arrives 5 virtual seconds later.

type tssState struct {
	keys    []keygen.LocalPartySaveData // by node index
	parties []tss.Party                 // by node index
	pending map[events.Hash]map[int]projections.Duty
}

// loadTSS reads the fixture key for (nodes, t) and publishes it.
func (s *Sim) loadTSS() error {
	keys, err := tss.LoadFixtures(s.cfg.FixturesDir, s.cfg.Nodes, s.cfg.Threshold)
	if err != nil {
		return fmt.Errorf("sim --tss needs the fixture key of n=%d t=%d (committed: 7/4 and 10/6): %w", s.cfg.Nodes, s.cfg.Threshold, err)
	}
	st := &tssState{keys: keys, pending: map[events.Hash]map[int]projections.Duty{}}
	for i, n := range s.nodes {
		st.parties = append(st.parties, tss.Party{Peer: n.id, Key: keys[i].ShareID})
		n.share = tss.ShareScalar(&keys[i])
	}
	key, err := tss.PublishKey(&keys[0], st.parties, s.cfg.Threshold)
	if err != nil {
		return err
	}
	key.Address = "sim-vault"
	s.key, s.tss = key, st
	return nil
}

// startRealSigning collects a signing session's starts; when every signer
// has started, it signs for real and schedules the outcomes.
func (s *Sim) startRealSigning(n *simNode, d projections.Duty) {
	st := s.tss
	if st.pending[d.Session] == nil {
		st.pending[d.Session] = map[int]projections.Duty{}
	}
	st.pending[d.Session][n.index] = d
	if len(st.pending[d.Session]) < len(d.Signers) {
		return
	}
	starts := st.pending[d.Session]
	delete(st.pending, d.Session)
	var signers []tss.Party
	var indexes []int
	for _, p := range d.Signers {
		i := s.indexOf(p)
		signers = append(signers, st.parties[i])
		indexes = append(indexes, i)
	}
	peers := make([]events.PeerID, len(signers))
	for i, p := range signers {
		peers[i] = p.Peer
	}
	net := tss.NewMemoryNetwork(peers)
	results := make([]tss.Result[*common.SignatureData], len(signers))
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for j, i := range indexes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			seed := sha512.Sum512(append(binary.BigEndian.AppendUint64(d.Session[:], s.cfg.Seed), byte(j)))
			sign := tss.Signing{Session: d.Session, Self: signers[j].Peer, Signers: signers, Threshold: s.cfg.Threshold,
				Key: st.keys[i], Digest: d.M0, Rand: newSeededReader(seed[:])}
			results[j] = sign.Run(ctx, net.Inbox(signers[j].Peer), net.Sender(signers[j].Peer))
		}()
	}
	wg.Wait()
	for j, i := range indexes {
		res := results[j]
		fin := &events.TSSSessionFinished{Session: d.Session, Outcome: res.Outcome, Culprits: res.Culprits}
		if res.Outcome == events.OutcomeSuccess {
			if !tss.VerifySignature(st.keys[0].ECDSAPub, d.M0[:], res.Value.R, res.Value.S) {
				fin.Outcome, fin.Error = events.OutcomeFailed, "signature does not verify under the group key"
			} else {
				fin.Signature = append(slices.Clone(res.Value.R), res.Value.S...)
				s.signatures++
			}
		} else if res.Err != nil {
			fin.Error = res.Err.Error()
		}
		s.finishes = append(s.finishes, pendingFinish{at: s.now.Add(5 * time.Second), node: i, duty: starts[i], finished: fin})
	}
}

// seededReader is an endless deterministic byte stream (SHA-512 in
// counter mode) for tss-lib's randomness in a seeded run.
type seededReader struct {
	seed    []byte
	counter uint64
	buf     bytes.Buffer
}

func newSeededReader(seed []byte) *seededReader { return &seededReader{seed: seed} }

func (r *seededReader) Read(p []byte) (int, error) {
	for r.buf.Len() < len(p) {
		block := sha512.Sum512(binary.BigEndian.AppendUint64(append([]byte{}, r.seed...), r.counter))
		r.counter++
		r.buf.Write(block[:])
	}
	return r.buf.Read(p)
}
