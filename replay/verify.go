package replay

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// Divergence is the first place a log's recorded actions differ from the
// duties its own state called for.
type Divergence struct {
	Seq    uint64
	Reason string
}

func (d *Divergence) Error() string { return fmt.Sprintf("seq %d: %s", d.Seq, d.Reason) }

// VerifyReport counts what Verify checked.
type VerifyReport struct {
	Events uint64
	Ticks  uint64
	Duties uint64 // recorded actions matched to a duty
}

// mustExecute are the duties a node always can carry out: a log that
// skips one diverges. Proposals need a share, so their absence proves
// nothing; their presence must still have been due. Stake checks are
// asked of the chain outside the node's lock and not logged; their
// answers (StakeChecked) come back later like any outside event, so
// they are not actions.
func mustExecute(k projections.DutyKind) bool {
	switch k {
	case projections.DutySendPing, projections.DutySendSigningSet, projections.DutySendChecksum, projections.DutyStartSigning,
		projections.DutySendKeygenCommit, projections.DutyStartKeygen, projections.DutyStartResharing,
		projections.DutySendKeyAnnouncement:
		return true
	}
	return false
}

// VerifyDuties folds a log and checks every action it records (messages
// sent, session starts) against the duties the state called
// for at that point, as node.Node executes them: after each tick, duties
// are done one kind at a time until none is due. It returns the first
// divergence as a *Divergence error.
func VerifyDuties(store *events.Store, until Until) (VerifyReport, error) {
	var rep VerifyReport
	state := projections.NewState()
	var (
		afterTick  bool   // inside the duty loop of the last tick
		tickSeq    uint64 // seq of that tick
		done       = map[projections.DutyKind]bool{}
		pendingDue []projections.Duty // duties due now
	)
	closeLoop := func(seq uint64) error {
		if !afterTick {
			return nil
		}
		afterTick = false
		for _, d := range pendingDue {
			if mustExecute(d.Kind) && !done[d.Kind] {
				return &Divergence{Seq: seq, Reason: fmt.Sprintf("the tick at seq %d made %q due, and the log does not show it done", tickSeq, d.Kind)}
			}
		}
		return nil
	}
	err := store.ForEach(1, until.Seq, func(seq uint64, ev events.Event) error {
		if tick, ok := ev.(*events.Tick); ok && until.Time != 0 && tick.Time > until.Time {
			return errStop
		}
		rep.Events++
		kind, isAction := actionKind(ev)
		if sent, ok := ev.(*events.MessageSent); ok && sent.Msg.Type == events.TypeTSS {
			// A session's own messages (its session key, its first
			// round) go out while its start duty executes, inside the
			// loop: they neither end it nor answer a duty.
			state.Apply(seq, ev)
			return nil
		}
		if !isAction {
			if err := closeLoop(seq); err != nil {
				return err
			}
			state.Apply(seq, ev)
			if _, ok := ev.(*events.Tick); ok {
				rep.Ticks++
				afterTick, tickSeq = true, seq
				clear(done)
				pendingDue = state.Duties()
			}
			return nil
		}
		if !afterTick {
			return &Divergence{Seq: seq, Reason: fmt.Sprintf("%s recorded outside the duty loop of a tick", describeAction(ev))}
		}
		matched := false
		for _, d := range pendingDue {
			if d.Kind == kind && !done[kind] && matches(d, ev) {
				matched = true
				break
			}
		}
		if !matched {
			return &Divergence{Seq: seq, Reason: fmt.Sprintf("%s, but no duty called for it (due: %s)", describeAction(ev), dueList(pendingDue, done))}
		}
		done[kind] = true
		rep.Duties++
		state.Apply(seq, ev)
		// Like the node, recompute: this action may have made another due.
		pendingDue = state.Duties()
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return rep, err
	}
	return rep, closeLoop(rep.Events + 1)
}

// actionKind says which duty an event is the execution of, if any.
func actionKind(ev events.Event) (projections.DutyKind, bool) {
	switch e := ev.(type) {
	case *events.MessageSent:
		switch e.Msg.Type {
		case events.TypePing:
			return projections.DutySendPing, true
		case events.TypeProposal:
			return projections.DutySendProposal, true
		case events.TypeSigningSet:
			return projections.DutySendSigningSet, true
		case events.TypeChecksum:
			return projections.DutySendChecksum, true
		case events.TypeKeygenCommit:
			return projections.DutySendKeygenCommit, true
		case events.TypeEvidence:
			return projections.DutySendEvidence, true
		case events.TypeKey:
			return projections.DutySendKeyAnnouncement, true
		}
		return 0, false // kv intents and others are not duties
	case *events.TSSSessionStarted:
		switch e.Protocol {
		case events.SessionSigning:
			return projections.DutyStartSigning, true
		case events.SessionKeygen:
			return projections.DutyStartKeygen, true
		case events.SessionResharing:
			return projections.DutyStartResharing, true
		}
	}
	return 0, false
}

// matches compares an action with a duty, leaving out what the shell adds
// (its stake tx and share proofs).
func matches(d projections.Duty, ev events.Event) bool {
	switch e := ev.(type) {
	case *events.MessageSent:
		switch d.Kind {
		case projections.DutySendPing:
			var p events.Ping
			if events.DecodePing(e.Msg.Body, &p) != nil {
				return false
			}
			return p.PeerID == d.Ping.PeerID && p.Seq == d.Ping.Seq && p.Time == d.Ping.Time && p.State == d.Ping.State && p.KeyID == d.Ping.KeyID
		case projections.DutySendProposal:
			var p events.Proposal
			if events.Unmarshal(e.Msg.Body, &p) != nil {
				return false
			}
			return p.Round == d.Proposal.Round && p.M0 == d.Proposal.M0 && p.M1 == d.Proposal.M1 && slices.Equal(p.Transfers, d.Proposal.Transfers)
		case projections.DutySendSigningSet:
			var s events.SigningSet
			if events.Unmarshal(e.Msg.Body, &s) != nil {
				return false
			}
			return s.Round == d.SigningSet.Round && s.M0 == d.SigningSet.M0 && slices.Equal(s.Members, d.SigningSet.Members)
		case projections.DutySendChecksum:
			var c events.Checksum
			if events.Unmarshal(e.Msg.Body, &c) != nil {
				return false
			}
			return c.Round == d.Checksum.Round && c.Sum == d.Checksum.Sum && c.M0 == d.Checksum.M0 && slices.Equal(c.Set, d.Checksum.Set)
		case projections.DutySendKeygenCommit:
			var k events.KeygenCommit
			if events.Unmarshal(e.Msg.Body, &k) != nil {
				return false
			}
			return k == d.KeygenCommit
		case projections.DutySendEvidence:
			var ev events.Evidence
			if events.Unmarshal(e.Msg.Body, &ev) != nil {
				return false
			}
			return bytes.Equal(ev.A.Sig, d.Evidence.A.Sig) && bytes.Equal(ev.B.Sig, d.Evidence.B.Sig)
		case projections.DutySendKeyAnnouncement:
			var a events.KeyAnnouncement
			if events.Unmarshal(e.Msg.Body, &a) != nil {
				return false
			}
			return a.Session == d.KeyAnnouncement.Session && a.Key.KeyID == d.KeyAnnouncement.Key.KeyID &&
				a.Key.Address == d.KeyAnnouncement.Key.Address && a.Key.Session.IsZero()
		}
	case *events.TSSSessionStarted:
		want := d.StartEvent()
		return e.Protocol == want.Protocol && e.Session == want.Session && e.Round == want.Round && e.M0 == want.M0 &&
			slices.Equal(e.Parties, want.Parties) && slices.Equal(e.NewParties, want.NewParties)
	}
	return false
}

func describeAction(ev events.Event) string {
	switch e := ev.(type) {
	case *events.MessageSent:
		return "sent a " + e.Msg.Type + " message"
	case *events.TSSSessionStarted:
		return "started signing session " + e.Session.String()[:12]
	}
	return ev.Kind().String()
}

func dueList(due []projections.Duty, done map[projections.DutyKind]bool) string {
	var out []string
	for _, d := range due {
		if !done[d.Kind] {
			out = append(out, d.Kind.String())
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return fmt.Sprint(out)
}
