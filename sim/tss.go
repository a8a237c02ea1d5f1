package sim

import (
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
	"github.com/metanode/metanode/tss/tsstest"
)

// With Config.TSS every node runs its tss sessions for real (node.TSS):
// keygen, signing and resharing with tss-lib, their messages signed,
// sealed when point to point, logged, and carried by the simulated
// network like any other. What the simulator adds:
//
//   - Key material from the committed test keys of the run's committee:
//     without KeygenFor the run starts on the test key (node i holds
//     test party i's share); each node's pre-parameters for keygen and
//     resharing are a set of its own from the test keys (every set of every
//     committee is distinct: 22 in all), reused for each session (a real
//     node's pool never hands out one set twice; only tests may).
//   - tss-lib's randomness, seeded per node, session and side: tss-lib v3
//     then runs reproducibly, so one seed gives one run.
//   - The chain: a signature that verifies under the group key confirms
//     its tx.
type tssState struct {
	testKeys  []keygen.LocalPartySaveData // the committee's test key, party i's share for node i
	preParams []keygen.LocalPreParams     // node i's
	keys      []*events.KeyPublished      // in the order they were made
}

// loadTSS reads the test keys: without keygen the run starts on the
// committee's (n, t) key; every node takes a pre-parameter set of its own
// from them, the committee's first.
func (s *Sim) loadTSS() error {
	fsys := s.cfg.TestKeys
	if fsys == nil {
		fsys = testkeys.FS
	}
	own := [2]int{s.cfg.committee(), s.cfg.Threshold}
	keys, err := testkeys.Load(fsys, own[0], own[1])
	if err != nil && s.cfg.KeygenFor == 0 {
		return fmt.Errorf("sim --tss: %w (or generate a key first with --keygen-for)", err)
	}
	s.tss = &tssState{testKeys: keys}
	for _, k := range keys {
		s.tss.preParams = append(s.tss.preParams, k.LocalPreParams)
	}
	for _, set := range [][2]int{{5, 2}, {7, 4}, {10, 6}} {
		if len(s.tss.preParams) >= len(s.nodes) {
			break
		}
		if set == own {
			continue
		}
		more, err := testkeys.Load(fsys, set[0], set[1])
		if err != nil {
			continue
		}
		for i := range more {
			s.tss.preParams = append(s.tss.preParams, more[i].LocalPreParams)
		}
	}
	if len(s.tss.preParams) < len(s.nodes) {
		return fmt.Errorf("sim --tss: %d nodes, but the test keys hold only %d distinct pre-parameter sets", len(s.nodes), len(s.tss.preParams))
	}
	if s.cfg.KeygenFor > 0 {
		return nil
	}
	parties := make([]tss.Party, len(keys))
	for i := range keys {
		n := s.nodes[i]
		parties[i] = tss.Party{Peer: n.id, Key: keys[i].ShareID}
		n.share = tss.ShareScalar(&keys[i])
	}
	key, err := tss.PublishKey(&keys[0], parties, s.cfg.Threshold)
	if err != nil {
		return err
	}
	key.Address = "sim-vault"
	s.key = key
	s.tss.keys = append(s.tss.keys, key)
	return nil
}

// nodeTSS is node n's tss surroundings: its share store (holding the
// test key's share when the run starts on it; a simulation's store
// guards nothing, so argon2id does next to no work), test key
// pre-parameters and seeded randomness.
func (s *Sim) nodeTSS(n *simNode, dir string) (*node.TSS, error) {
	passphrase := derive("sim-share-store", s.cfg.Seed, n.index)
	store, err := tss.OpenShareStore(filepath.Join(dir, "shares"), passphrase, tss.ShareStoreOptions{Peer: n.id, InsecureTestKDF: true})
	if err != nil {
		return nil, err
	}
	if s.key != nil && n.index < len(s.tss.testKeys) {
		if err := store.Save(s.key.KeyID, &s.tss.testKeys[n.index]); err != nil {
			return nil, err
		}
	}
	preParams := s.tss.preParams[n.index]
	return &node.TSS{
		Shares: store,
		PreParams: func() (*keygen.LocalPreParams, error) {
			pre := preParams
			return &pre, nil
		},
		Rand: func(session events.Hash, side tss.Side) io.Reader {
			seed := sha512.Sum512(binary.BigEndian.AppendUint64(append(session[:], byte(side)), s.cfg.Seed^uint64(n.index)<<32))
			return newSeededReader(seed[:])
		},
		SealRand: func(session events.Hash) io.Reader { return s.sealRand(n, session) },
		Address:  func(pub []byte) string { return fmt.Sprintf("sim-vault-%x", pub[1:7]) },
		Finished: func(d projections.Duty, fin *events.TSSSessionFinished, key *events.KeyPublished) {
			s.tssFinished(n, d, fin, key)
		},
	}, nil
}

// tssFinished plays the chain for a node's session outcome, and notes
// the keys the committees make.
func (s *Sim) tssFinished(n *simNode, d projections.Duty, fin *events.TSSSessionFinished, key *events.KeyPublished) {
	if fin.Outcome != events.OutcomeSuccess {
		return
	}
	switch d.Kind {
	case projections.DutyStartSigning:
		if s.key == nil || !tss.VerifyCompact(s.key.PublicKey, d.M0[:], fin.Signature) {
			s.fail(fmt.Errorf("node %d: the signature of session %s does not verify under the group key", n.index, d.Session.String()[:12]))
			return
		}
		s.signatures++
		if s.confirmed[d.Session] {
			return
		}
		s.confirmed[d.Session] = true
		if err := s.observe(&events.TxConfirmed{Chain: "sim", TxID: d.Session.String(), Height: uint64(s.now.Std().Unix()), Confirmations: 1, Spends: s.spends[d.Session], Payouts: s.squatting.payouts[d.Session]}); err != nil {
			s.fail(err)
		}
	default:
		if key == nil || slices.ContainsFunc(s.tss.keys, func(k *events.KeyPublished) bool { return k.KeyID == key.KeyID }) {
			return
		}
		s.tss.keys = append(s.tss.keys, key)
		s.key = key
	}
}

// fail keeps the first error of a callback for the next Step to return.
func (s *Sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// sealRand is the randomness of node n's ephemeral sealing key for a
// session: seeded, in a domain of its own (tss-lib's streams never
// repeat it).
func (s *Sim) sealRand(n *simNode, session events.Hash) io.Reader {
	return sealRandOf(s.cfg.Seed, n.index, session)
}

func sealRandOf(seed uint64, index int, session events.Hash) io.Reader {
	sum := sha512.Sum512(binary.BigEndian.AppendUint64(append([]byte("metanode/sim/seal-key"), session[:]...), seed^uint64(index)<<32))
	return newSeededReader(sum[:])
}

// sealKeyOf is node n's ephemeral sealing key for a session, drawn again
// from its seeded randomness: the simulator plays a byzantine sender with
// the key that sender's node announced.
func (s *Sim) sealKeyOf(n *simNode, session events.Hash) (*tss.SessionKey, error) {
	return tss.NewSessionKey(s.sealRand(n, session))
}

// corruptShare reseals a point-to-point tss message (to a recipient
// only accepts, if set) with a corrupted payload: the simulator knows
// every node's session keys, so it can play a byzantine sender exactly.
func (s *Sim) corruptShare(from *simNode, m events.Signed, only func(to int) bool) events.Signed {
	var msg events.TSSMessage
	if events.Unmarshal(m.Body, &msg) != nil || msg.Broadcast || len(msg.To) != 1 {
		return m
	}
	to := s.indexOf(msg.To[0])
	if to < 0 || (only != nil && !only(to)) {
		return m
	}
	own, err := s.sealKeyOf(from, msg.Session)
	if err != nil {
		return m
	}
	theirs, err := s.sealKeyOf(s.nodes[to], msg.Session)
	if err != nil {
		return m
	}
	payload, err := own.OpenSent(msg.Session, from.id, msg.To[0], theirs.Public(), msg.Payload)
	if err != nil {
		return m
	}
	if payload, err = tsstest.CorruptPayload(payload); err != nil {
		return m
	}
	if msg.Payload, err = own.Seal(msg.Session, from.id, msg.To[0], theirs.Public(), payload); err != nil {
		return m
	}
	return s.resign(from, m.Type, &msg)
}

// seededReader is an endless deterministic byte stream (SHA-512 in
// counter mode) for tss-lib's randomness in a seeded run.
type seededReader struct {
	mu      sync.Mutex
	seed    []byte
	counter uint64
	buf     []byte
}

func newSeededReader(seed []byte) *seededReader { return &seededReader{seed: seed} }

func (r *seededReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.buf) < len(p) {
		block := sha512.Sum512(binary.BigEndian.AppendUint64(slices.Clone(r.seed), r.counter))
		r.counter++
		r.buf = append(r.buf, block[:]...)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
