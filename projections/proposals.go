package projections

import (
	"bytes"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
)

func (r *Rounds) proposalOf(p events.PeerID) *ProposalRecord {
	for _, pr := range r.cur.Proposals {
		if pr.From == p {
			return pr
		}
	}
	return nil
}

func (r *Rounds) onProposal(seq uint64, m *events.Signed) {
	if r.cur == nil {
		return
	}
	var p events.Proposal
	if events.Unmarshal(m.Body, &p) != nil || p.Round != r.cur.Number {
		return // undecodable or for another round: kept in the log only
	}
	if prev := r.proposalOf(m.From); prev != nil {
		r.equivocated(prev.Seq, seq, &prev.Msg, m, "two different proposals for one round")
		return
	}
	rec := &ProposalRecord{Seq: seq, From: m.From, Proposal: p, Msg: *m}
	r.cur.Proposals = append(r.cur.Proposals, rec)
	rec.Point, rec.Reason = r.judgeProposal(m.From, &p)
	rec.Accepted = rec.Reason == ""
}

// equivocated checks a second message of one sender and type for the
// current round against the first: an exact repeat is nothing (gossip
// duplicates); a different one is equivocation, which the round keeps
// and the block list turns into a block and gossiped evidence.
func (r *Rounds) equivocated(firstSeq, seq uint64, first, second *events.Signed, note string) {
	if bytes.Equal(first.Body, second.Body) {
		return
	}
	r.blocks.Equivocated(firstSeq, seq, first, second, r.cur.Number, note)
	r.cur.Equivocations = append(r.cur.Equivocations, Block{Peer: second.From, Reason: BlockEquivocation,
		Evidence: []uint64{firstSeq, seq}, Round: r.cur.Number, Note: note})
}

// judgeProposal returns the share point the proposal's proof proves and
// why the sender does not join this node's signing set ("" if it does).
func (r *Rounds) judgeProposal(from events.PeerID, p *events.Proposal) ([]byte, string) {
	if !r.keys.IsMember(from) {
		// checked before any proof: a non-member costs no verification
		return nil, "not a committee member"
	}
	point := r.provenPoint(from, p)
	cur := r.cur
	switch {
	case r.offset() >= events.Time(r.params.ProposalPhase):
		return point, "arrived after the proposal phase"
	case !cur.Participating:
		return point, "this node does not take part: " + cur.NotTakingPart
	case p.M0 != cur.M0:
		return point, "another doc (m0 differs)"
	case p.M1 != cur.Doc.M1(from):
		return point, "m1 does not match H(sender || own doc)"
	case !r.keys.IsMember(from):
		return point, "not a committee member"
	case !r.listed(from):
		return point, "not in the peer list, or blocked"
	case point == nil:
		return point, "share proof does not verify"
	}
	if own, _ := r.keys.SharePoint(from); !bytes.Equal(own, point) {
		return point, "share proof proves another member's share"
	}
	return point, ""
}

// provenPoint finds the committee share point a proposal's proof proves:
// the sender's own first, then every other (a cloned share).
func (r *Rounds) provenPoint(from events.PeerID, p *events.Proposal) []byte {
	key, ok := r.keys.Current()
	if !ok {
		return nil
	}
	ctx := tss.ProofContext{Purpose: tss.ProofForProposal, KeyID: key.KeyID, Peer: from, Bucket: p.Round}
	if own, ok := r.keys.SharePoint(from); ok && tss.VerifyShare(own, p.TSSProof, ctx) {
		return own
	}
	for _, sp := range key.SharePoints {
		if sp.Peer != from && tss.VerifyShare(sp.Point, p.TSSProof, ctx) {
			return sp.Point
		}
	}
	return nil
}
