package sim_test

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/sim"
	"github.com/metanode/metanode/tss"
)

// TestKeyRecoveryNeedsThePassphrase plays a thief against one node after a
// real keygen: it holds the node's whole log, its identity key (as if the
// passphrase that seals it had leaked) and every tss message any node
// gossiped, and tries to rebuild the node's share the way a keygen
// allows: open the share evaluations the node sent (its polynomial at t+1
// points gives its own evaluation) and those it received, and add them
// up. With the session's ephemeral keys erased it gets nothing. The
// control hands the same thief the session key the node drew (what a
// static identity-derived sealing key gave away before): then the very
// same attack rebuilds the share exactly, proving the attack is real.
func TestKeyRecoveryNeedsThePassphrase(t *testing.T) {
	const seed, victim = 7, 0
	res := run(t, sim.Config{Nodes: 5, Threshold: 2, Duration: 6 * time.Minute, KeygenFor: 6 * time.Minute, TSS: true, Seed: seed})
	var session events.Hash
	var key *events.KeyPublished
	var gossip []events.Signed
	for i := range res.Nodes {
		for _, ev := range logEvents(t, res, i) {
			switch e := ev.(type) {
			case *events.MessageSent:
				gossip = append(gossip, e.Msg)
			case *events.TSSMessageReceived:
				gossip = append(gossip, e.Msg)
			case *events.TSSSessionStarted:
				if i == victim && e.Protocol == events.SessionKeygen {
					session = e.Session
				}
			case *events.KeyPublished:
				if i == victim {
					key = e
				}
			}
		}
	}
	if key == nil {
		t.Fatalf("attempts %+v: the victim made no key", res.Attempts)
	}
	victimID := peerID(t, res, victim)
	point := slices.IndexFunc(key.SharePoints, func(p events.SharePoint) bool { return p.Peer == victimID })
	if point < 0 {
		t.Fatal("the victim holds no share of the key")
	}
	scalar := sha512.Sum512(sim.IdentitySeed(seed, victim)) // its X25519 form, as the old sealing used it
	stolen, err := tss.NewSessionKey(bytes.NewReader(scalar[:32]))
	if err != nil {
		t.Fatal(err)
	}
	thief := keygenThief{session: session, victim: victimID, gossip: gossip}
	if share, err := thief.recover(stolen); err == nil {
		t.Fatalf("log + identity key + gossip recovered a share (%x...)", share.Bytes()[:4])
	} else {
		t.Logf("without the session key: %v", err)
	}
	erased, err := sim.SessionKeyOf(seed, victim, session)
	if err != nil {
		t.Fatal(err)
	}
	share, err := thief.recover(erased)
	if err != nil {
		t.Fatalf("control: with the session key the attack should work: %v", err)
	}
	got, err := tss.SharePoint(share.FillBytes(make([]byte, 32)))
	if err != nil || !bytes.Equal(got, key.SharePoints[point].Point) {
		t.Fatal("control: the rebuilt share is not the victim's (its point differs from the published one)")
	}
}

// keygenThief rebuilds a keygen party's share from sealed messages.
type keygenThief struct {
	session events.Hash
	victim  events.PeerID
	gossip  []events.Signed
}

var errNoShare = errors.New("not enough share evaluations opened")

// recover opens with key every share evaluation the victim sent and
// received in the session, then interpolates and adds.
func (th keygenThief) recover(key *tss.SessionKey) (*big.Int, error) {
	announced := map[events.PeerID][]byte{}
	var sealed []struct {
		m   events.Signed
		msg events.TSSMessage
	}
	for _, m := range th.gossip {
		var msg events.TSSMessage
		if m.Type != events.TypeTSS || events.Unmarshal(m.Body, &msg) != nil || msg.Session != th.session {
			continue
		}
		if len(msg.Payload) == 0 && msg.SealKey != nil {
			announced[m.From] = msg.SealKey
		}
		if !msg.Broadcast && len(msg.To) == 1 && (m.From == th.victim || msg.To[0] == th.victim) {
			sealed = append(sealed, struct {
				m   events.Signed
				msg events.TSSMessage
			}{m, msg})
		}
	}
	q := tsslib.S256().Params().N
	sent := map[string]*big.Int{}     // the victim's polynomial at each recipient's point
	received := map[string]*big.Int{} // each sender's polynomial at the victim's point
	for _, s := range sealed {
		var plain []byte
		var err error
		if s.m.From == th.victim {
			plain, err = key.OpenSent(th.session, th.victim, s.msg.To[0], announced[s.msg.To[0]], s.msg.Payload)
		} else {
			plain, err = key.Open(th.session, s.m.From, th.victim, s.msg.SealKey, s.msg.Payload)
		}
		if err != nil {
			continue
		}
		share, ok := shareOf(plain)
		if !ok {
			continue
		}
		if s.m.From == th.victim {
			sent[string(s.msg.To[0])] = share
		} else {
			received[string(s.m.From)] = share
		}
	}
	if len(sent) < 3 || len(received) == 0 {
		return nil, fmt.Errorf("%w: %d sent, %d received", errNoShare, len(sent), len(received))
	}
	// Lagrange at the victim's point over the evaluations it sent.
	at := tss.PartyKey(th.victim, th.session)
	own := new(big.Int)
	for peer, y := range sent {
		xi := tss.PartyKey(events.PeerID(peer), th.session)
		term := new(big.Int).Set(y)
		for other := range sent {
			if other == peer {
				continue
			}
			xj := tss.PartyKey(events.PeerID(other), th.session)
			num := new(big.Int).Sub(at, xj)
			den := new(big.Int).Sub(xi, xj)
			term.Mul(term, num).Mul(term, den.ModInverse(den.Mod(den, q), q)).Mod(term, q)
		}
		own.Add(own, term)
	}
	total := own.Mod(own, q)
	for _, y := range received {
		total.Add(total, y).Mod(total, q)
	}
	return total, nil
}

// shareOf reads a keygen round-2 share evaluation.
func shareOf(payload []byte) (*big.Int, bool) {
	var wire anypb.Any
	if proto.Unmarshal(payload, &wire) != nil {
		return nil, false
	}
	content, err := wire.UnmarshalNew()
	if err != nil {
		return nil, false
	}
	m, ok := content.(*keygen.KGRound2Message1)
	if !ok {
		return nil, false
	}
	return m.UnmarshalShare(), true
}
