package tss

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/resharing"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
)

// Keygen is one party's part in a keygen session.
type Keygen struct {
	Session   events.Hash // the commit checksum of the attempt
	Self      events.PeerID
	Committee []events.PeerID // party keys are PartyKey(peer, Session)
	Threshold int
	// PreParams are this party's safe primes and Paillier key, from the
	// pool, so keygen never waits on prime generation.
	PreParams keygen.LocalPreParams
	Rand      io.Reader
}

// Run generates this party's share of a new key.
func (k Keygen) Run(ctx context.Context, inbox <-chan Incoming, send func(Outgoing) error) Result[*keygen.LocalPartySaveData] {
	return Run(ctx, k.NewSession(), inbox, send)
}

// NewSession sets up the keygen party, to be driven step by step.
func (k Keygen) NewSession() *Session[*keygen.LocalPartySaveData] {
	fail := func(err error) *Session[*keygen.LocalPartySaveData] {
		return FailedSession[*keygen.LocalPartySaveData](k.Session, fmt.Errorf("keygen session %s: %w", k.Session.String()[:12], err))
	}
	if !k.PreParams.ValidateWithProof() {
		return fail(fmt.Errorf("pre-parameters are incomplete"))
	}
	parties := make([]Party, len(k.Committee))
	for i, p := range k.Committee {
		parties[i] = Party{Peer: p, Key: PartyKey(p, k.Session)}
	}
	ids, err := newPartyIDs(parties)
	if err != nil {
		return fail(err)
	}
	self, ok := ids.byPeer[k.Self]
	if !ok {
		return fail(fmt.Errorf("%s is not in the committee", k.Self.Short()))
	}
	params := tsslib.NewParameters(tsslib.S256(), tsslib.NewPeerContext(ids.sorted), self, len(parties), k.Threshold)
	params.SetSessionNonce(new(big.Int).SetBytes(k.Session[:]))
	if k.Rand != nil {
		params.SetRand(k.Rand)
		params.SetPartialKeyRand(k.Rand)
	}
	n := len(parties)
	out := make(chan tsslib.Message, 64*n*n)
	end := make(chan *keygen.LocalPartySaveData, 1)
	party := keygen.NewLocalParty(params, out, end, k.PreParams)
	return newSession(k.Session, party, out, end, singleRouter{ids: ids, self: k.Self})
}

// Resharing is one party's part in a resharing: the old committee hands
// the key to the new one; the public key stays the same.
type Resharing struct {
	Session events.Hash
	Self    events.PeerID
	// Old are the old side's parties with the share ids of their key data;
	// New is the new committee (party keys PartyKey(peer, Session)).
	Old          []Party
	New          []events.PeerID
	OldThreshold int
	NewThreshold int
	// Key is an old party's key data; a new party's starts from its
	// pre-parameters.
	Key       *keygen.LocalPartySaveData
	PreParams *keygen.LocalPreParams
	Rand      io.Reader
}

// Run takes part in the resharing, on the old side, the new side, or both
// (as separate parties: call Run once per side). A new party ends with its
// new key data; an old one with nil.
func (r Resharing) Run(ctx context.Context, newSide bool, inbox <-chan Incoming, send func(Outgoing) error) Result[*keygen.LocalPartySaveData] {
	return Run(ctx, r.NewSession(newSide), inbox, send)
}

// NewSession sets up this peer's party on one side of the resharing, to
// be driven step by step.
func (r Resharing) NewSession(newSide bool) *Session[*keygen.LocalPartySaveData] {
	fail := func(err error) *Session[*keygen.LocalPartySaveData] {
		return FailedSession[*keygen.LocalPartySaveData](r.Session, fmt.Errorf("resharing session %s: %w", r.Session.String()[:12], err))
	}
	newParties := make([]Party, len(r.New))
	for i, p := range r.New {
		newParties[i] = Party{Peer: p, Key: PartyKey(p, r.Session)}
	}
	oldIDs, err := newSidePartyIDs(r.Old, "/old")
	if err != nil {
		return fail(err)
	}
	newIDs, err := newSidePartyIDs(newParties, "/new")
	if err != nil {
		return fail(err)
	}
	side := SideOld
	var key keygen.LocalPartySaveData
	self := oldIDs.byPeer[r.Self]
	if newSide {
		side, self = SideNew, newIDs.byPeer[r.Self]
		if r.PreParams == nil || !r.PreParams.ValidateWithProof() {
			return fail(fmt.Errorf("a new party needs complete pre-parameters"))
		}
		key = keygen.NewLocalPartySaveData(len(r.New))
		key.LocalPreParams = *r.PreParams
	} else {
		if r.Key == nil || r.Key.Xi == nil {
			return fail(fmt.Errorf("an old party needs its key data"))
		}
		key = *r.Key
		// tss-lib zeroes an old party's Xi in place when the resharing
		// succeeds; the caller's data must survive it: the new key may
		// never become current, and then the old share still signs.
		key.Xi = new(big.Int).Set(r.Key.Xi)
	}
	if self == nil {
		return fail(fmt.Errorf("%s is not on that side", r.Self.Short()))
	}
	params := tsslib.NewReSharingParameters(tsslib.S256(), tsslib.NewPeerContext(oldIDs.sorted), tsslib.NewPeerContext(newIDs.sorted),
		self, len(r.Old), r.OldThreshold, len(r.New), r.NewThreshold)
	params.SetSessionNonce(new(big.Int).SetBytes(r.Session[:]))
	if r.Rand != nil {
		params.SetRand(r.Rand)
		params.SetPartialKeyRand(r.Rand)
	}
	n := len(r.Old) + len(r.New)
	out := make(chan tsslib.Message, 64*n*n)
	end := make(chan *keygen.LocalPartySaveData, 1)
	party := resharing.NewLocalParty(params, key, out, end)
	return newSession(r.Session, party, out, end, resharingRouter{old: oldIDs, new: newIDs, self: r.Self, side: side})
}

// resharingRouter serves the two committees of a resharing; a peer on
// both sides runs two parties, told apart by side.
type resharingRouter struct {
	old, new partyIDs
	self     events.PeerID
	side     Side
}

func (r resharingRouter) outgoing(routing *tsslib.MessageRouting) Outgoing {
	o := Outgoing{FromSide: r.side, Broadcast: routing.IsBroadcast}
	o.ToOld = routing.IsToOldCommittee || routing.IsToOldAndNewCommittees
	o.ToNew = !routing.IsToOldCommittee || routing.IsToOldAndNewCommittees
	if len(routing.To) > 0 {
		o.To = r.culprits(routing.To)
	}
	return o
}

func (r resharingRouter) sender(in Incoming) (*tsslib.PartyID, bool) {
	if in.ToSide != r.side || (in.From == r.self && in.FromSide == r.side) {
		return nil, false
	}
	switch in.FromSide {
	case SideOld:
		id, ok := r.old.byPeer[in.From]
		return id, ok
	case SideNew:
		id, ok := r.new.byPeer[in.From]
		return id, ok
	}
	return nil, false
}

// side is the parties of one side.
func (r resharingRouter) sideIDs(side Side) partyIDs {
	if side == SideOld {
		return r.old
	}
	return r.new
}

func (r resharingRouter) receivers(in Incoming) []sidedPeer {
	ids := r.sideIDs(r.side)
	var out []sidedPeer
	for _, id := range ids.sorted {
		p := ids.byID[id.Id]
		if p == r.self || (p == in.From && in.FromSide == r.side) {
			continue
		}
		out = append(out, sidedPeer{p, r.side})
	}
	return out
}

func (r resharingRouter) echoer(in Incoming) (sidedPeer, bool) {
	if in.ToSide != r.side || (in.FromSide != SideOld && in.FromSide != SideNew) || (in.From == r.self && in.FromSide == r.side) {
		return sidedPeer{}, false
	}
	_, ok := r.sideIDs(in.FromSide).byPeer[in.From]
	return sidedPeer{in.From, in.FromSide}, ok
}

// echo goes to both committees, so a party on the other side that holds
// the same broadcast (one sent to both sides) can still find a different
// version and pass its original on; each party waits only for the
// receivers on its own side.
func (r resharingRouter) echo(echoes []Echo) Outgoing {
	return Outgoing{FromSide: r.side, Broadcast: true, ToOld: true, ToNew: true, Echo: echoes}
}

func (r resharingRouter) own() events.PeerID { return r.self }

func (r resharingRouter) culprits(list []*tsslib.PartyID) []events.PeerID {
	return slices.Compact(slices.Sorted(slices.Values(append(r.old.peers(list), r.new.peers(list)...))))
}
