package projections

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/metanode/metanode/events"
)

// Round outcomes.
const (
	OutcomePending = "pending"
	OutcomeSigning = "signing"
	OutcomeSigned  = "signed"
	OutcomeAborted = "aborted"
	OutcomeSkipped = "skipped"
	// OutcomeSetSigning: every checksum matched and the threshold set,
	// which this node is not in, signs.
	OutcomeSetSigning = "set signing"
)

// ProposalRecord is a received proposal and what this node made of it.
type ProposalRecord struct {
	Seq      uint64          `msgpack:"q"`
	From     events.PeerID   `msgpack:"f"`
	Proposal events.Proposal `msgpack:"p"`
	Msg      events.Signed   `msgpack:"m"` // as signed: evidence if its sender equivocates
	Accepted bool            `msgpack:"a"`
	Reason   string          `msgpack:"r"` // why not accepted
	// Point is the share point its proof proved, if any.
	Point []byte `msgpack:"x"`
}

// SetRecord is a signing set this node holds (its own included).
type SetRecord struct {
	Seq     uint64            `msgpack:"q"`
	From    events.PeerID     `msgpack:"f"`
	Set     events.SigningSet `msgpack:"s"`
	Ignored string            `msgpack:"i"` // why it does not count
	Msg     events.Signed     `msgpack:"m"`
}

// ChecksumRecord is a checksum of a threshold set member (or a keygen
// commit), with the message as signed.
type ChecksumRecord struct {
	Seq  uint64        `msgpack:"q"`
	From events.PeerID `msgpack:"f"`
	Sum  events.Hash   `msgpack:"s"`
	// M0 and Set: the doc and threshold set the checksum names.
	M0  events.Hash     `msgpack:"m0"`
	Set []events.PeerID `msgpack:"st"`
	Msg events.Signed   `msgpack:"m"`
}

// Round is the state of one signing round; it is replaced at the next
// epoch boundary, leaving its RoundSummary in the history.
type Round struct {
	Number        int64       `msgpack:"n"`
	Start         events.Time `msgpack:"t"`
	Participating bool        `msgpack:"p"`
	NotTakingPart string      `msgpack:"np"` // why not, when not

	Doc       *TxDoc      `msgpack:"d"`
	M0        events.Hash `msgpack:"m0"`
	Transfers []string    `msgpack:"tr"`

	Proposals     []*ProposalRecord `msgpack:"pr"` // first per sender, by arrival
	Equivocations []Block           `msgpack:"eq"`
	Sets          []*SetRecord      `msgpack:"ss"`
	Threshold     *ThresholdResult  `msgpack:"th"`
	Expected      events.Hash       `msgpack:"ex"` // H(r || m0 || set ids)
	Checksums     []*ChecksumRecord `msgpack:"cs"`
	// Outliers: members whose checksum was a provable lie (blocked).
	Outliers []events.PeerID `msgpack:"ol"`
	// Mismatch: a member of this node's set checksummed another set; the
	// node still sends its own checksum, so the split shows (contest.go).
	Mismatch bool `msgpack:"mm"`
	// Incomplete: the check phase ended with checksums missing here.
	// SetStarted: a member of this node's set started the very session
	// this node expects, so it had every checksum (checksums.go, joinable).
	Incomplete bool `msgpack:"ic"`
	SetStarted bool `msgpack:"js"`

	SigningPeers []events.PeerID `msgpack:"sp"` // listed peers seen pinging Signing, sorted
	Cooldown     bool            `msgpack:"cd"`

	SentProposal bool         `msgpack:"s1"`
	SentSet      bool         `msgpack:"s2"`
	SentChecksum bool         `msgpack:"s3"`
	Session      *events.Hash `msgpack:"se"`
	Outcome      string       `msgpack:"o"`
	Reason       string       `msgpack:"or"`
}

// RoundSummary is what the history keeps of a finished round.
type RoundSummary struct {
	Number  int64           `msgpack:"n"`
	Outcome string          `msgpack:"o"`
	Reason  string          `msgpack:"r"`
	M0      events.Hash     `msgpack:"m"`
	Set     []events.PeerID `msgpack:"s"`
	Pruned  []Pruned        `msgpack:"p"`
	// Cooldown: this node saw t+1 committee members pinging Signing.
	Cooldown  bool            `msgpack:"cd"`
	Contested []events.PeerID `msgpack:"ct"`
	// Participating: this node took part (it had a doc to sign).
	Participating bool `msgpack:"tp"`
}

// Rounds runs the signing rounds of PROTOCOL.md section 3.
type Rounds struct {
	params     events.Params
	self       events.PeerID
	now        events.Time
	keys       *Keys
	peers      *Peers
	blocks     *Blocks
	transfers  *Transfers
	committees *Committees

	cur      *Round
	history  []RoundSummary
	sessions map[events.Hash]*TxDoc // signing session -> the doc it signs
	// early: messages for the next round (round_intake.go); contested:
	// peers ranked last for a while (contest.go).
	early     []EarlyMessage
	contested []Contest
	closed    *ClosedRound
}

// maxHistory bounds the round summaries kept (a day of rounds); the log
// keeps every round for audit.
const maxHistory = 1440

// NewRounds returns the rounds projection over the given projections,
// which must be folded before it.
func NewRounds(keys *Keys, peers *Peers, blocks *Blocks, transfers *Transfers, committees *Committees) *Rounds {
	return &Rounds{keys: keys, peers: peers, blocks: blocks, transfers: transfers, committees: committees, sessions: map[events.Hash]*TxDoc{}}
}

// Current returns the current round (nil before the first tick).
func (r *Rounds) Current() *Round { return r.cur }

// History returns the summaries of finished rounds, oldest first.
func (r *Rounds) History() []RoundSummary { return r.history }

func (r *Rounds) offset() events.Time { return r.now - r.cur.Start }

// Phase names the phase of the current round at the last tick:
// "proposals", "signing sets", "checksums", "signing" or "closing"
// ("" before the first tick).
func (r *Rounds) Phase() string {
	if r.cur == nil {
		return ""
	}
	switch offset := r.now.Sub(r.cur.Start); {
	case offset < r.params.ProposalPhase:
		return "proposals"
	case offset < r.params.SigningSetPhase:
		return "signing sets"
	case offset < r.params.CheckPhase:
		return "checksums"
	case offset < r.params.SigningDeadline:
		return "signing"
	}
	return "closing"
}

// Apply implements Projection.
func (r *Rounds) Apply(seq uint64, ev events.Event) {
	switch e := ev.(type) {
	case *events.Genesis:
		r.params, r.self = e.Params, e.Params.NodeID
	case *events.Tick:
		r.tick(e.Time)
	case *events.ProposalReceived:
		r.receive(seq, &e.Msg)
	case *events.SigningSetReceived:
		r.receive(seq, &e.Msg)
	case *events.ChecksumReceived:
		r.receive(seq, &e.Msg)
	case *events.PingReceived:
		r.onPing(&e.Msg)
	case *events.TSSMessageReceived:
		r.onTSSMessage(&e.Msg)
	case *events.MessageSent:
		r.onSent(seq, &e.Msg)
	case *events.TSSSessionStarted:
		if e.Protocol == events.SessionSigning && r.cur != nil && e.Round == r.cur.Number {
			nonce := e.Session
			r.cur.Session = &nonce
			r.cur.Outcome = OutcomeSigning
			r.sessions[nonce] = r.cur.Doc
		}
	case *events.TSSSessionFinished:
		doc, ok := r.sessions[e.Session]
		if !ok {
			return
		}
		delete(r.sessions, e.Session)
		if e.Outcome == events.OutcomeSuccess && doc != nil {
			r.transfers.ConsumeSigned(doc)
		}
		if r.cur != nil && r.cur.Session != nil && *r.cur.Session == e.Session {
			if e.Outcome == events.OutcomeSuccess {
				r.cur.Outcome, r.cur.Reason = OutcomeSigned, ""
			} else {
				r.cur.Outcome, r.cur.Reason = OutcomeAborted, "tss session "+e.Outcome.String()
			}
		}
	}
}

func (r *Rounds) tick(now events.Time) {
	r.now = now
	if r.params.SigningEpoch <= 0 {
		return
	}
	number := int64(now) / int64(r.params.SigningEpoch)
	if r.cur == nil || number != r.cur.Number {
		r.closeRound()
		r.openRound(number)
		r.forgetContests(number)
		r.countEarly()
	}
	cur := r.cur
	if cur.Threshold == nil && r.offset() >= events.Time(r.params.SigningSetPhase) {
		r.computeThreshold()
	}
	if cur.Outcome == OutcomePending && r.offset() >= events.Time(r.params.CheckPhase) && cur.Threshold != nil && cur.Threshold.Found {
		switch {
		case r.ChecksumsComplete() && !slices.Contains(cur.Threshold.Set, r.self):
			cur.Outcome = OutcomeSetSigning
		case r.ChecksumsComplete():
			cur.Outcome, cur.Reason = OutcomeAborted, "checksums matched but the signing session did not start"
		default:
			cur.Outcome, cur.Reason = OutcomeAborted, "checksums incomplete at the end of the check phase"
			cur.Incomplete = true
		}
	}
}

func (r *Rounds) closeRound() {
	cur := r.cur
	if cur == nil {
		return
	}
	if cur.Outcome == OutcomePending {
		cur.Outcome = OutcomeSkipped
		if cur.Reason == "" {
			cur.Reason = "no threshold set"
		}
	}
	r.closeForContest()
	sum := RoundSummary{Number: cur.Number, Outcome: cur.Outcome, Reason: cur.Reason, Cooldown: cur.Cooldown, Participating: cur.Participating}
	if cur.Threshold != nil {
		sum.Pruned = cur.Threshold.Pruned
		if cur.Threshold.Found {
			sum.M0, sum.Set = cur.Threshold.M0, cur.Threshold.Set
		}
	}
	r.history = append(r.history, sum)
	if len(r.history) > maxHistory {
		r.history = slices.Delete(r.history, 0, len(r.history)-maxHistory)
	}
}

func (r *Rounds) openRound(number int64) {
	cur := &Round{Number: number, Start: events.Time(number * int64(r.params.SigningEpoch)), Outcome: OutcomePending}
	r.cur = cur
	key, hasKey := r.keys.Current()
	switch {
	case !hasKey || !r.keys.IsMember(r.self):
		cur.NotTakingPart = "holds no share of the current key"
	case !r.listed(r.self):
		cur.NotTakingPart = "not in its own peer list"
	case r.busy():
		cur.NotTakingPart = "not idle: a keygen or regroup session runs"
	default:
		doc, ok := r.transfers.Doc(number, key)
		if !ok {
			cur.NotTakingPart = "no transfer, no round"
			cur.Reason = "no transfers"
			return
		}
		cur.Participating = true
		cur.Doc, cur.M0, cur.Transfers = doc, doc.M0(), doc.Inputs
	}
}

func (r *Rounds) busy() bool {
	if r.committees == nil {
		return false
	}
	_, busy := r.committees.NodeState()
	return busy
}

// listed reports whether a peer is in the peer list and not blocked.
func (r *Rounds) listed(p events.PeerID) bool {
	_, ok := r.seniority()(p)
	return ok
}

// seniority maps the current peer list (blocked peers excluded).
func (r *Rounds) seniority() func(events.PeerID) (int, bool) {
	rank := map[events.PeerID]int{}
	for i, ps := range r.peers.List(r.blocks.Blocked) {
		rank[ps.ID] = i
	}
	return func(p events.PeerID) (int, bool) { i, ok := rank[p]; return i, ok }
}

// onSent records this node's own round messages: its proposal, its
// signing set (which counts like a received one) and its checksum.
func (r *Rounds) onSent(seq uint64, m *events.Signed) {
	if r.cur == nil || m.From != r.self {
		return
	}
	switch m.Type {
	case events.TypeProposal:
		var p events.Proposal
		if events.Unmarshal(m.Body, &p) == nil && p.Round == r.cur.Number {
			r.cur.SentProposal = true
		}
	case events.TypeSigningSet:
		var s events.SigningSet
		if events.Unmarshal(m.Body, &s) == nil && s.Round == r.cur.Number {
			r.cur.SentSet = true
			r.addSet(seq, m, s)
		}
	case events.TypeChecksum:
		var c events.Checksum
		if events.Unmarshal(m.Body, &c) == nil && c.Round == r.cur.Number {
			r.cur.SentChecksum = true
			r.addChecksum(&ChecksumRecord{Seq: seq, From: r.self, Sum: c.Sum, M0: c.M0, Set: c.Set, Msg: *m})
		}
	}
}

type sessionSpends struct {
	Session events.Hash `msgpack:"n"`
	Doc     *TxDoc      `msgpack:"d"`
}

type roundsState struct {
	Current   *Round          `msgpack:"c"`
	History   []RoundSummary  `msgpack:"h"`
	Sessions  []sessionSpends `msgpack:"s"`
	Early     []EarlyMessage  `msgpack:"e"`
	Contested []Contest       `msgpack:"ct"`
	Closed    *ClosedRound    `msgpack:"cl"`
}

// AppendState implements Projection.
func (r *Rounds) AppendState(dst []byte) []byte {
	var sessions []sessionSpends
	for nonce, spends := range r.sessions {
		sessions = append(sessions, sessionSpends{nonce, spends})
	}
	slices.SortFunc(sessions, func(a, b sessionSpends) int { return bytes.Compare(a.Session[:], b.Session[:]) })
	out, err := events.Marshal(dst, &roundsState{Current: r.cur, History: r.history, Sessions: sessions, Early: r.early, Contested: r.contested, Closed: r.closed})
	if err != nil {
		panic(fmt.Sprintf("encode rounds state: %v", err))
	}
	return out
}
