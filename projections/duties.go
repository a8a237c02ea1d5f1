package projections

import (
	"slices"

	"github.com/metanode/metanode/events"
)

// DutyKind says what a duty asks the shell to do.
type DutyKind uint8

// Duty kinds.
const (
	DutySendPing DutyKind = iota + 1
	DutyCheckStake
	DutySendProposal
	DutySendSigningSet
	DutySendChecksum
	DutyStartSigning
	DutySendKeygenCommit
	DutyStartKeygen
	DutyStartResharing
	DutySendEvidence
	DutySendKeyAnnouncement
)

func (k DutyKind) String() string {
	return [...]string{"", "send ping", "check stake", "send proposal", "send signing set", "send checksum", "start signing",
		"send keygen commit", "start keygen", "start resharing", "send evidence", "send key announcement"}[k]
}

// Duty is one thing the node must do now. Which fields are set depends on
// Kind. The shell adds what only it has (its share, for the share proofs;
// its stake tx) and records every message before it is sent.
type Duty struct {
	Kind       DutyKind
	Ping       events.Ping       // DutySendPing: all but StakeTx and TSSProof
	StakeCheck StakeCheck        // DutyCheckStake
	Proposal   events.Proposal   // DutySendProposal: all but TSSProof
	SigningSet events.SigningSet // DutySendSigningSet
	Checksum   events.Checksum   // DutySendChecksum
	// DutySendKeygenCommit
	KeygenCommit events.KeygenCommit
	// DutyStartSigning: the session, its signers in set order and the doc.
	// DutyStartKeygen and DutyStartResharing: the session, the epoch in
	// Round and the new committee in Signers (OldParties: the old side).
	Session    events.Hash
	Round      int64
	Signers    []events.PeerID
	OldParties []events.PeerID
	M0         events.Hash
	// DutySendEvidence: an equivocation pair to gossip.
	Evidence events.Evidence
	// DutySendKeyAnnouncement: the key this node's session made, for the
	// attempt's session.
	KeyAnnouncement events.KeyAnnouncement
}

// Duties returns what this node must do now: a pure function of the
// state, so a replay recomputes every duty the node executed.
func (s *State) Duties() []Duty {
	var duties []Duty
	if ping, due := s.OwnPings.PingDue(); due {
		ping.State = s.Rounds.NodeState()
		if state, busy := s.Committees.NodeState(); busy {
			ping.State = state
		}
		if key, ok := s.Keys.Current(); ok {
			ping.KeyID = key.KeyID
		}
		duties = append(duties, Duty{Kind: DutySendPing, Ping: ping})
	}
	for _, check := range s.Peers.StakeChecksDue() {
		duties = append(duties, Duty{Kind: DutyCheckStake, StakeCheck: check})
	}
	duties = append(duties, s.Blocks.evidenceDuties()...)
	duties = append(duties, s.Committees.duties()...)
	return append(duties, s.Rounds.duties()...)
}

func (r *Rounds) duties() []Duty {
	cur := r.cur
	if cur == nil {
		return nil
	}
	offset := r.offset()
	var duties []Duty
	if cur.Participating && !cur.Cooldown && cur.Outcome == OutcomePending {
		switch {
		case !cur.SentProposal && offset < events.Time(r.params.ProposalPhase):
			duties = append(duties, Duty{Kind: DutySendProposal, Proposal: events.Proposal{
				Round: cur.Number, M0: cur.M0, M1: cur.Doc.M1(r.self), Transfers: slices.Clone(cur.Transfers),
			}})
		case cur.SentProposal && !cur.SentSet && offset >= events.Time(r.params.ProposalPhase) && offset < events.Time(r.params.SigningSetPhase):
			duties = append(duties, Duty{Kind: DutySendSigningSet, SigningSet: events.SigningSet{
				Round: cur.Number, M0: cur.M0, Members: r.OwnSigningSet(),
			}})
		}
	}
	th := cur.Threshold
	inSet := th != nil && th.Found && slices.Contains(th.Set, r.self)
	// Cooldown gates both: a node that saw t+1 committee members signing
	// in this round neither checksums nor starts a session of its own.
	// A member sends its checksum even when another member's already
	// showed a mismatch: its view is what the contest needs (contest.go).
	if inSet && !cur.Cooldown && (cur.Outcome == OutcomePending || cur.Mismatch) && !cur.SentChecksum && offset < events.Time(r.params.CheckPhase) {
		duties = append(duties, Duty{Kind: DutySendChecksum, Checksum: events.Checksum{
			Round: cur.Number, Sum: cur.Expected, M0: th.M0, Set: slices.Clone(th.Set),
		}})
	}
	onTime := cur.Outcome == OutcomePending && r.ChecksumsComplete() && offset < events.Time(r.params.CheckPhase)
	if inSet && !cur.Cooldown && cur.Session == nil && (onTime || r.joinable()) {
		duties = append(duties, Duty{
			Kind: DutyStartSigning, Session: cur.Expected, Round: cur.Number, Signers: slices.Clone(th.Set), M0: th.M0,
		})
	}
	return duties
}

// StartEvent is the event that records the start of a session duty
// (signing, keygen, resharing), committed before the session runs.
func (d Duty) StartEvent() *events.TSSSessionStarted {
	switch d.Kind {
	case DutyStartKeygen:
		return &events.TSSSessionStarted{Session: d.Session, Protocol: events.SessionKeygen, Round: d.Round, Parties: d.Signers}
	case DutyStartResharing:
		return &events.TSSSessionStarted{Session: d.Session, Protocol: events.SessionResharing, Round: d.Round, Parties: d.OldParties, NewParties: d.Signers}
	}
	return &events.TSSSessionStarted{Session: d.Session, Protocol: events.SessionSigning, Round: d.Round, Parties: d.Signers, M0: d.M0}
}

// Unfinished lists the tss sessions this node started and has no outcome
// for, sorted: after a restart they can no longer finish, and the node
// records them as failed so rounds and attempts move on.
func (s *State) Unfinished() []events.Hash {
	var out []events.Hash
	for nonce := range s.Rounds.sessions {
		out = append(out, nonce)
	}
	if a := s.Committees.cur; a != nil && a.Session != nil {
		out = append(out, *a.Session)
	}
	slices.SortFunc(out, func(a, b events.Hash) int { return slices.Compare(a[:], b[:]) })
	return slices.Compact(out)
}
