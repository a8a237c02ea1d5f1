package sim

import (
	"crypto/ed25519"
	"crypto/sha512"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
)

// Spam: a node that also runs SpamIdentities unstaked identities (Ed25519
// keys derived from the seed, any number of which cost an attacker
// nothing). Every second each of them sends a message on every topic to
// every node: pings announcing made-up stake txs, proposals, signing sets,
// checksums, keygen commits, intents, tss messages for made-up and for
// real session ids, key announcements and culprit reports naming honest
// peers. The node's own (staked, so admitted) identity also floods
// SpamOwnTSS tss messages a second for made-up sessions: logged, as
// evidence, but they must not crowd honest peers' messages out of the
// early tss buffer.
const (
	SpamIdentities = 20 // more than projections.MaxStrangerChecks
	SpamOwnTSS     = 40 // a second; over two minutes more than node.MaxEarlyTSSMessages
)

// spammers are the unstaked identities of the run's spam nodes.
type spammers struct {
	made bool
	ids  []*spamIdentity
}

type spamIdentity struct {
	owner *simNode
	key   crypto.PrivKey
	id    events.PeerID
	seq   uint64
}

// SpamIDs returns the unstaked identities of the run's spam nodes.
func (s *Sim) SpamIDs() []events.PeerID {
	s.makeSpammers()
	var out []events.PeerID
	for _, sp := range s.spam.ids {
		out = append(out, sp.id)
	}
	return out
}

func (s *Sim) makeSpammers() {
	if s.spam.made {
		return
	}
	s.spam.made = true
	for _, n := range s.nodes {
		if !n.has(Spam) {
			continue
		}
		for k := range SpamIdentities {
			key, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(derive("sim-spam", s.cfg.Seed, n.index*1000+k)))
			if err != nil {
				panic(err)
			}
			pid, err := peer.IDFromPrivateKey(key)
			if err != nil {
				panic(err)
			}
			s.spam.ids = append(s.spam.ids, &spamIdentity{owner: n, key: key, id: events.PeerID(pid)})
		}
	}
}

// flood sends this second's spam.
func (s *Sim) flood() {
	s.makeSpammers()
	if len(s.spam.ids) == 0 {
		return
	}
	round := int64(s.now) / int64(s.params.SigningEpoch)
	epoch := int64(s.now) / int64(s.params.KeygenEpoch)
	real := s.realSessions()
	var victim events.PeerID
	for _, n := range s.nodes {
		if !n.has(Spam) {
			victim = n.id
			break
		}
	}
	for _, sp := range s.spam.ids {
		sp.seq++
		junk := sha512.Sum512_256(fmt.Appendf(nil, "spam %s %d", sp.id, sp.seq))
		bodies := []struct {
			typ  string
			body any
		}{
			{events.TypePing, &events.Ping{PeerID: sp.id, Seq: sp.seq, Time: s.now, StakeTx: fmt.Sprintf("spam-stake-%x", sp.id)}},
			{events.TypeProposal, &events.Proposal{Round: round, M0: junk, M1: junk, Transfers: []string{"invented:0"}}},
			{events.TypeSigningSet, &events.SigningSet{Round: round, M0: junk, Members: []events.PeerID{sp.id}}},
			{events.TypeChecksum, &events.Checksum{Round: round, Sum: junk}},
			{events.TypeKeygenCommit, &events.KeygenCommit{Epoch: epoch, Sum: junk}},
			{events.TypeKVEntry, &events.KVEntry{Amount: 10_000 + sp.seq, Intent: junk[:]}},
			{events.TypeTSS, &events.TSSMessage{Session: junk, Broadcast: true, Payload: junk[:]}},
			{events.TypeKey, &events.KeyAnnouncement{Session: junk, Key: events.KeyPublished{KeyID: junk, Threshold: s.cfg.Threshold}}},
			{events.TypeCulprits, &events.CulpritReport{Session: junk, Culprits: []events.PeerID{victim}}},
		}
		for _, session := range real {
			bodies = append(bodies, struct {
				typ  string
				body any
			}{events.TypeTSS, &events.TSSMessage{Session: session, Broadcast: true, Payload: junk[:]}})
		}
		for _, b := range bodies {
			s.spread(sp.owner, spamSign(sp.key, b.typ, b.body))
		}
	}
	for _, n := range s.nodes {
		if !n.has(Spam) {
			continue
		}
		for k := range SpamOwnTSS {
			session := sha512.Sum512_256(fmt.Appendf(nil, "own spam %d %d %d", n.index, s.now, k))
			s.spread(n, spamSign(n.key, events.TypeTSS, &events.TSSMessage{Session: session, Broadcast: true, Payload: session[:]}))
		}
	}
}

// realSessions are the sessions started in the latest round with any,
// sorted.
func (s *Sim) realSessions() []events.Hash {
	latest := int64(-1)
	for r := range s.starts {
		latest = max(latest, r)
	}
	var out []events.Hash
	for session := range s.starts[latest] {
		out = append(out, session)
	}
	slices.SortFunc(out, func(a, b events.Hash) int { return slices.Compare(a[:], b[:]) })
	return out
}

// spread delivers a spam message to every node but its sender, through
// the network's loss, delay and partitions (not through the owner's
// other behaviours).
func (s *Sim) spread(from *simNode, m events.Signed) {
	for _, to := range s.nodes {
		if to == from || s.cut(from.index, to.index) || s.rng.Float64() < s.cfg.Drop {
			continue
		}
		s.schedule(arrival{at: s.now.Add(s.deliveryDelay()), to: to.index, kind: arriveMessage, msg: m})
	}
}

func spamSign(key crypto.PrivKey, typ string, body any) events.Signed {
	data, err := events.Marshal(nil, body)
	if err != nil {
		panic(err)
	}
	m, err := net.Sign(key, typ, data)
	if err != nil {
		panic(err)
	}
	return m
}
