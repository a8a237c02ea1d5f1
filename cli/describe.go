package cli

import (
	"fmt"
	"strings"

	"github.com/metanode/metanode/events"
)

// describe is a one-line human account of an event, for log tail.
func describe(ev events.Event) string {
	switch e := ev.(type) {
	case *events.Genesis:
		p := e.Params
		return fmt.Sprintf("network %s, node %s, n=%d t=%d", p.Network, p.NodeID.Short(), p.CommitteeSize, p.Threshold)
	case *events.Tick:
		return e.Time.String()
	case *events.MessageSent:
		return "sent " + describeSigned(&e.Msg)
	case *events.StakeChecked:
		if e.Error != "" {
			return fmt.Sprintf("peer %s stake %s: chain error: %s", e.Peer.Short(), short(e.StakeTx), e.Error)
		}
		return fmt.Sprintf("peer %s stake %s: found=%t confirmed=%t at %s amount=%d bound=%s spent=%t",
			e.Peer.Short(), short(e.StakeTx), e.Found, e.Confirmed, e.ConfirmedAt, e.Amount, e.BoundPeer.Short(), e.Spent)
	case *events.DepositObserved:
		return fmt.Sprintf("%s %s:%d amount=%d from %s, %d confirmations", e.Chain, short(e.TxID), e.Vout, e.Amount, e.Sender, e.Confirmations)
	case *events.TxConfirmed:
		return fmt.Sprintf("%s %s at height %d, %d confirmations", e.Chain, short(e.TxID), e.Height, e.Confirmations)
	case *events.TSSSessionStarted:
		return fmt.Sprintf("%s session %s round %d, parties %s", e.Protocol, short(e.Session.String()), e.Round, peers(e.Parties))
	case *events.TSSSessionFinished:
		s := fmt.Sprintf("session %s %s", short(e.Session.String()), e.Outcome)
		if len(e.Culprits) > 0 {
			s += ", culprits " + peers(e.Culprits)
		}
		if e.Error != "" {
			s += ": " + e.Error
		}
		return s
	case *events.KeyPublished:
		s := fmt.Sprintf("key %s address %s, t=%d, %d share points", short(e.KeyID.String()), e.Address, e.Threshold, len(e.SharePoints))
		if !e.Session.IsZero() {
			s += ", made by session " + short(e.Session.String()) + " (its own announcement: current with t more alike)"
		}
		return s
	}
	if msg, ok := events.SignedOf(ev); ok {
		return "from " + describeSigned(msg)
	}
	return ""
}

func describeSigned(m *events.Signed) string {
	s := fmt.Sprintf("%s %s", m.From.Short(), m.Type)
	switch m.Type {
	case events.TypePing:
		var p events.Ping
		if events.Unmarshal(m.Body, &p) == nil {
			return fmt.Sprintf("%s seq=%d %s at %s", s, p.Seq, p.State, p.Time)
		}
	case events.TypeProposal:
		var p events.Proposal
		if events.Unmarshal(m.Body, &p) == nil {
			return fmt.Sprintf("%s round %d m0=%s, %d transfers", s, p.Round, short(p.M0.String()), len(p.Transfers))
		}
	case events.TypeSigningSet:
		var p events.SigningSet
		if events.Unmarshal(m.Body, &p) == nil {
			return fmt.Sprintf("%s round %d m0=%s members %s", s, p.Round, short(p.M0.String()), peers(p.Members))
		}
	case events.TypeChecksum:
		var p events.Checksum
		if events.Unmarshal(m.Body, &p) == nil {
			return fmt.Sprintf("%s round %d sum=%s", s, p.Round, short(p.Sum.String()))
		}
	}
	return fmt.Sprintf("%s (%d bytes)", s, len(m.Body))
}

func peers(ps []events.PeerID) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Short()
	}
	return "[" + strings.Join(out, " ") + "]"
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
