package projections

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/metanode/metanode/events"
)

// BlockReason says why a peer was blocked (PROTOCOL.md section 6).
type BlockReason uint8

// Block reasons.
const (
	BlockEquivocation BlockReason = iota + 1 // two different signed proposals for one round
	BlockCulprit                             // named by tss-lib as the cause of a failure
	BlockOutlier                             // its checksum did not match
	BlockTimeout                             // tss-lib was still waiting for it at the deadline
)

func (r BlockReason) String() string {
	switch r {
	case BlockEquivocation:
		return "equivocation"
	case BlockCulprit:
		return "tss culprit"
	case BlockOutlier:
		return "checksum outlier"
	case BlockTimeout:
		return "tss timeout"
	}
	return "unknown"
}

// Evidence reasons are the ones every node can verify from signed
// messages and tss-lib's proofs; only they exclude a peer from regroup.
func (r BlockReason) Evidence() bool { return r == BlockEquivocation || r == BlockCulprit }

// Block is one entry of the block list.
type Block struct {
	Peer   events.PeerID `msgpack:"p"`
	Reason BlockReason   `msgpack:"r"`
	// Evidence names the log seqs of the events that prove the reason.
	Evidence []uint64    `msgpack:"e"`
	Round    int64       `msgpack:"n"` // the signing round or session round
	From     events.Time `msgpack:"f"`
	Until    events.Time `msgpack:"u"`
	Note     string      `msgpack:"t"`
	// Local: evidence only this node (and few others) saw, such as a
	// culprit of a signing session it took part in. It blocks here like
	// any other, but regroup does not honor it: nodes outside the session
	// would pick another committee, and no commit would match.
	Local bool `msgpack:"l"`
}

// MaxExpiredBlocks is how many expired block entries the record of
// culprits keeps for audit, the latest made. Entries in force are all
// kept; older expired ones are dropped, so a peer that keeps earning
// blocks cannot grow the state without end. (The log keeps their
// evidence: an audit can always fold it again.)
const MaxExpiredBlocks = 256

// Blocks is the block list and the record of culprits. Entries expire by
// tick time; the record of culprits keeps them for audit, up to
// MaxExpiredBlocks expired ones.
type Blocks struct {
	params  events.Params
	now     events.Time
	entries []Block // in the order they were made; the last expired ones stay
	// signing: the signing sessions started here and not yet finished.
	signing map[events.Hash]bool
	// equivocations: evidence pairs held, to gossip and to show.
	equivocations []*Equivocation
	// running: the tss sessions started here and not yet finished;
	// broadcasts: their first broadcast of each sender and tss-lib round
	// (tssbroadcasts.go).
	running    map[events.Hash][]events.PeerID
	broadcasts map[events.Hash]map[broadcastOf]firstBroadcast
	// peers and keys (folded before): gossiped evidence counts only
	// against an admitted peer or a committee member, so throwaway keys
	// cannot fill the block list (nil in unit tests: every sender counts).
	peers *Peers
	keys  *Keys
}

// Apply implements Projection: tss session outcomes name culprits.
// Equivocations and outliers are added by the rounds projection.
func (b *Blocks) Apply(seq uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		b.params = e.Params
	case *events.Tick:
		b.now = e.Time
		b.trim()
	case *events.EvidenceReceived:
		b.onEvidence(seq, &e.Msg)
	case *events.MessageSent:
		if e.Msg.Type == events.TypeEvidence {
			b.onEvidenceSent(&e.Msg)
		}
	case *events.TSSMessageReceived:
		b.onTSSBroadcast(seq, &e.Msg)
	case *events.TSSSessionStarted:
		b.onTSSSession(e.Session, append(slices.Clone(e.Parties), e.NewParties...))
		if e.Protocol == events.SessionSigning {
			if b.signing == nil {
				b.signing = map[events.Hash]bool{}
			}
			b.signing[e.Session] = true
		}
	case *events.TSSSessionFinished:
		// What a node's own session names is its own view: a share
		// corrupted towards this node alone fails only its session. Such a
		// block is local: it counts here, but no committee honors it, or
		// one byzantine sender could give one honest node a committee of
		// its own. Committees honor culprits t+1 participants reported
		// (committee.go), which every node learns alike.
		signing := b.signing[e.Session]
		delete(b.signing, e.Session)
		b.onTSSSession(e.Session, nil)
		const local = true
		if e.Outcome == events.OutcomeTimeout && !signing {
			// A keygen or resharing party that never sent is no evidence:
			// it may never have started (its commits completed a moment
			// later, or not at all). t+1 reports of it leave it out of the
			// next attempt instead (committee.go); nobody is blocked.
			return
		}
		reason := BlockCulprit
		if e.Outcome == events.OutcomeTimeout {
			reason = BlockTimeout
		}
		if e.Outcome == events.OutcomeSuccess {
			return
		}
		for _, culprit := range e.Culprits {
			b.Add(Block{Peer: culprit, Reason: reason, Evidence: []uint64{seq}, Note: e.Error, Local: local})
		}
	}
}

func (b *Blocks) duration(r BlockReason) time.Duration {
	switch r {
	case BlockEquivocation:
		return b.params.BlockEquivocation
	case BlockCulprit:
		return b.params.BlockCulprit
	case BlockOutlier:
		return b.params.BlockOutlier
	}
	return b.params.BlockTimeout
}

// Add blocks a peer from now for its reason's duration.
func (b *Blocks) Add(block Block) {
	block.From = b.now
	block.Until = b.now.Add(b.duration(block.Reason))
	b.entries = append(b.entries, block)
}

// trim drops the oldest-made expired entries beyond MaxExpiredBlocks.
// Entries in force are few, so a scan per tick is cheap; the order of the
// kept entries is unchanged, so the state stays deterministic.
func (b *Blocks) trim() {
	expired := 0
	for i := range b.entries {
		if b.now >= b.entries[i].Until {
			expired++
		}
	}
	if expired <= MaxExpiredBlocks {
		return
	}
	drop := expired - MaxExpiredBlocks
	kept := b.entries[:0]
	for _, e := range b.entries {
		if drop > 0 && b.now >= e.Until {
			drop--
			continue
		}
		kept = append(kept, e)
	}
	clear(b.entries[len(kept):]) // no stale evidence slices kept alive
	b.entries = kept
}

// BlockedFor reports whether a peer is blocked now for a reason.
func (b *Blocks) BlockedFor(peer events.PeerID, reason BlockReason) bool {
	for i := range b.entries {
		if e := &b.entries[i]; e.Peer == peer && e.Reason == reason && b.now < e.Until {
			return true
		}
	}
	return false
}

// Blocked reports whether a peer is blocked now.
func (b *Blocks) Blocked(peer events.PeerID) bool {
	for i := range b.entries {
		if e := &b.entries[i]; e.Peer == peer && b.now < e.Until {
			return true
		}
	}
	return false
}

// Active returns the blocks in force now, by peer then start.
func (b *Blocks) Active() []Block {
	var out []Block
	for _, e := range b.entries {
		if b.now < e.Until {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(x, y Block) int { return cmp.Compare(x.Peer, y.Peer) })
	return out
}

// Culprits returns the blocks in force and the last MaxExpiredBlocks
// expired ones, oldest first.
func (b *Blocks) Culprits() []Block { return slices.Clone(b.entries) }

// HasEvidenceAgainst reports whether a peer is excluded by evidence every
// node can verify or was told of (a signed equivocation; a keygen or
// resharing culprit, seen or reported by t+1 participants) that is still
// in force: the only exclusions regroup honors. A culprit of a signing
// session is Local: only the set's members know it.
func (b *Blocks) HasEvidenceAgainst(peer events.PeerID) bool {
	for _, e := range b.entries {
		if e.Peer == peer && e.Reason.Evidence() && !e.Local && b.now < e.Until {
			return true
		}
	}
	return false
}

// SharedBlock reports whether a peer is blocked now by an entry every
// node holds alike (evidence gossiped, or reported by t+1 participants),
// not by one only this node's own view produced: what keygen committees
// honor.
func (b *Blocks) SharedBlock(peer events.PeerID) bool {
	for _, e := range b.entries {
		if e.Peer == peer && !e.Local && b.now < e.Until {
			return true
		}
	}
	return false
}

// sharedBlockFor: a shared block (see SharedBlock) for a reason is in
// force; a local one of the same reason does not count.
func (b *Blocks) sharedBlockFor(peer events.PeerID, reason BlockReason) bool {
	for _, e := range b.entries {
		if e.Peer == peer && e.Reason == reason && !e.Local && b.now < e.Until {
			return true
		}
	}
	return false
}

// AppendState implements Projection.
func (b *Blocks) AppendState(dst []byte) []byte {
	out, err := events.Marshal(dst, &struct {
		Entries       []Block         `msgpack:"e"`
		Equivocations []*Equivocation `msgpack:"q"`
	}{b.entries, b.equivocations})
	if err != nil {
		panic(fmt.Sprintf("encode blocks state: %v", err))
	}
	return out
}
