package projections_test

import (
	"slices"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
)

// watcher is the state of a node at a keygen attempt that has just
// opened: node 9, outside a committee of peers 0, 1, 2 (n=3, t=1)
// (newWatcher), or a member of a committee of peers 0..n-1 (newMember).
type watcher struct {
	t     *testing.T
	state *projections.State
	seq   uint64
	now   events.Time
	log   []events.Event // every event applied, in order: its log
}

func (w *watcher) apply(ev events.Event) {
	w.seq++
	w.state.Apply(w.seq, ev)
	w.log = append(w.log, ev)
}

func newWatcher(t *testing.T) (*watcher, *projections.Attempt) { return newObserver(t, 9, 3, 1) }

// newMember is node 0's state, a member of a committee of n (threshold
// th) whose keygen attempt has just opened.
func newMember(t *testing.T, n, th int) (*watcher, *projections.Attempt) {
	return newObserver(t, 0, n, th)
}

func newObserver(t *testing.T, self, n, th int) (*watcher, *projections.Attempt) {
	t.Helper()
	params := events.DefaultParams(n, th)
	params.Network, params.NodeID, params.MinStake = "testnet", eventstest.Peer(self), 1
	params.KeygenUntil = eventstest.Epoch.Add(time.Hour)
	w := &watcher{t: t, state: projections.NewState(), now: eventstest.Epoch.Add(-2 * time.Second)}
	w.apply(&events.Genesis{Params: params})
	w.apply(&events.Tick{Time: w.now})
	for peer := range n {
		body, err := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(peer), Seq: 1, Time: w.now, StakeTx: stakeTx(peer)})
		if err != nil {
			t.Fatal(err)
		}
		w.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)})
		w.apply(&events.StakeChecked{Peer: eventstest.Peer(peer), StakeTx: stakeTx(peer), Found: true, Confirmed: true,
			ConfirmedAt: w.now.Add(-old - time.Duration(peer)*time.Hour), Amount: 100, BoundPeer: eventstest.Peer(peer)})
	}
	w.now = eventstest.Epoch // a keygen epoch boundary
	w.apply(&events.Tick{Time: w.now})
	a := w.state.Committees.Current()
	if a == nil || len(a.Committee) != n {
		t.Fatalf("no keygen attempt with a committee of %d opened: %+v", n, a)
	}
	return w, a
}

// newKey is a key of the attempt's committee, its id matching.
func newKey(a *projections.Attempt, label string) events.KeyPublished {
	key := events.KeyPublished{PublicKey: eventstest.Bytes("pub/"+label, 33), Threshold: (len(a.Committee) - 1) / 2, Address: "vault/" + label}
	for i, p := range a.Committee {
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: p, Point: eventstest.Bytes(label+"/x", 33+i), ShareID: eventstest.Bytes(label+"/id", 32+i)})
	}
	key.KeyID = events.KeyIDOf(key.PublicKey, key.SharePoints)
	return key
}

func (w *watcher) announce(from events.PeerID, session events.Hash, key events.KeyPublished) {
	w.apply(&events.KeyAnnouncementReceived{Msg: w.signed(from, events.TypeKey, &events.KeyAnnouncement{Session: session, Key: key})})
}

// signed is body as test peer from (one of eventstest.Peer(0..9)) signs it.
func (w *watcher) signed(from events.PeerID, typ string, body any) events.Signed {
	data, err := events.Marshal(nil, body)
	if err != nil {
		w.t.Fatal(err)
	}
	for i := range 10 {
		if eventstest.Peer(i) == from {
			return eventstest.Signed(typ, i, data)
		}
	}
	w.t.Fatalf("%s is not a test peer", from.Short())
	return events.Signed{}
}

func (w *watcher) current() (events.Hash, bool) {
	key, ok := w.state.Keys.Current()
	if !ok {
		return events.Hash{}, false
	}
	return key.KeyID, true
}

// TestKeyAnnouncements: a node outside the committee adopts the key t+1
// committee members announce alike, and nothing less: not one member
// twice, not outsiders, not another attempt's session, not a key whose
// committee or id does not match, and never a key it already had.
func TestKeyAnnouncements(t *testing.T) {
	w, a := newWatcher(t)
	key := newKey(a, "k1")
	member := func(i int) events.PeerID { return a.Committee[i] }

	w.announce(member(0), a.Sum, key)
	w.announce(member(0), a.Sum, key)                    // the same member again
	w.announce(eventstest.Peer(7), a.Sum, key)           // not a member
	w.announce(member(1), eventstest.Hash("other"), key) // another session
	reordered := key                                     // the committee out of order
	reordered.SharePoints = []events.SharePoint{key.SharePoints[1], key.SharePoints[0], key.SharePoints[2]}
	reordered.KeyID = events.KeyIDOf(reordered.PublicKey, reordered.SharePoints)
	w.announce(member(1), a.Sum, reordered)
	forged := key // an id that does not match the content
	forged.PublicKey = eventstest.Bytes("pub/forged", 33)
	w.announce(member(1), a.Sum, forged)
	if _, ok := w.current(); ok {
		t.Fatal("adopted a key on fewer than t+1 valid announcements")
	}

	w.announce(member(1), a.Sum, key)
	if id, ok := w.current(); !ok || id != key.KeyID {
		t.Fatal("did not adopt the key two members (t+1) announced")
	}
	if got := w.state.Committees.History(); len(got) == 0 || got[len(got)-1].Outcome != "success" {
		t.Fatalf("the watched attempt is not recorded as a success: %+v", got)
	}

	// A later key, then the first one's last announcement: no rollback.
	later := newKey(a, "k2")
	w.apply(&later)
	w.announce(member(2), a.Sum, key)
	if id, _ := w.current(); id != later.KeyID {
		t.Fatal("an announcement of an earlier key rolled the current key back")
	}
}

// TestMemberKeyNeedsTPlusOne: S4 at a member (PROTOCOL.md sections 5,
// 7). The key its own session made (its KeyPublished) counts as its own
// announcement and no more: the key becomes current only when t+1
// committee members, itself included, announced it alike; an
// announcement of the same id with another vault address is not alike.
// Until then the key it started on stays current. The node owes the
// others its announcement once (a duty); sent, it counts no second time.
// A replay of the log folds to the same state.
func TestMemberKeyNeedsTPlusOne(t *testing.T) {
	w, a := newMember(t, 5, 2) // t+1 = 3
	self := eventstest.Peer(0)
	start := newKey(a, "start")
	w.apply(&start) // the key the network started on: current at once
	key := newKey(a, "new")
	others := slices.DeleteFunc(slices.Clone(a.Committee), func(p events.PeerID) bool { return p == self })
	current := func() events.Hash { id, _ := w.current(); return id }
	announceDuty := func() (events.KeyAnnouncement, bool) {
		for _, d := range w.state.Duties() {
			if d.Kind == projections.DutySendKeyAnnouncement {
				return d.KeyAnnouncement, true
			}
		}
		return events.KeyAnnouncement{}, false
	}

	w.apply(&events.TSSSessionStarted{Session: a.Sum, Protocol: events.SessionKeygen, Round: a.Epoch, Parties: a.Committee})
	w.apply(&events.TSSSessionFinished{Session: a.Sum, Outcome: events.OutcomeSuccess})
	own := key
	own.Session = a.Sum
	w.apply(&own)
	if current() != start.KeyID {
		t.Fatal("a member made its own key current at once, on 1 of t+1 = 3 announcements")
	}
	due, ok := announceDuty()
	if !ok || due.Session != a.Sum || due.Key.KeyID != key.KeyID || due.Key.Address != key.Address || !due.Key.Session.IsZero() {
		t.Fatalf("announcement due %+v (%t): want the own key, for the attempt's session", due, ok)
	}
	w.apply(&events.MessageSent{Msg: w.signed(self, events.TypeKey, &due)})
	if _, ok := announceDuty(); ok {
		t.Fatal("the announcement is still due once sent")
	}
	if current() != start.KeyID {
		t.Fatal("the member's own announcement counted a second time")
	}

	moved := key // the same key id, another vault: not alike
	moved.Address = "vault/elsewhere"
	w.announce(others[0], a.Sum, moved)
	w.announce(others[1], a.Sum, key)
	if current() != start.KeyID {
		t.Fatal("the key is current on 2 announcements alike (the member's own and one more), t+1 = 3")
	}
	w.announce(others[2], a.Sum, key)
	if current() != key.KeyID {
		t.Fatal("the key is not current on t+1 = 3 announcements alike, the member's own among them")
	}
	if got, _ := w.state.Keys.Current(); got.Address != key.Address || !got.Session.IsZero() {
		t.Fatalf("the current key is %+v: want the announced public data, no session", got)
	}

	again := projections.NewState()
	for i, ev := range w.log {
		again.Apply(uint64(i+1), ev)
	}
	if projections.StateHash(again) != projections.StateHash(w.state) {
		t.Fatal("a replay of the member's log folds to another state")
	}
}

// TestMemberKeyAnnouncedFirst: t+1 other members can announce a key
// before this member's own session finishes: it is current then (the
// member proves no share until its own arrives: node.followKey), and the
// member's own key, arriving later, neither adopts it again nor excuses
// the member from announcing it.
func TestMemberKeyAnnouncedFirst(t *testing.T) {
	w, a := newMember(t, 5, 2)
	self := eventstest.Peer(0)
	key := newKey(a, "new")
	w.apply(&events.TSSSessionStarted{Session: a.Sum, Protocol: events.SessionKeygen, Round: a.Epoch, Parties: a.Committee})
	for _, p := range a.Committee {
		if p != self && len(w.state.Keys.History()) == 0 {
			w.announce(p, a.Sum, key)
		}
	}
	if id, ok := w.current(); !ok || id != key.KeyID {
		t.Fatal("t+1 other members announced the key, and it is not current")
	}
	w.apply(&events.TSSSessionFinished{Session: a.Sum, Outcome: events.OutcomeSuccess})
	own := key
	own.Session = a.Sum
	w.apply(&own)
	if h := w.state.Keys.History(); len(h) != 1 {
		t.Fatalf("key history %v: the own key adopted the key again", h)
	}
	due := false
	for _, d := range w.state.Duties() {
		due = due || (d.Kind == projections.DutySendKeyAnnouncement && d.KeyAnnouncement.Key.KeyID == key.KeyID)
	}
	if !due {
		t.Fatal("the member does not announce its key")
	}
}

func (w *watcher) report(from events.PeerID, session events.Hash, culprits ...events.PeerID) {
	w.reportOutcome(from, session, false, culprits...)
}

func (w *watcher) reportOutcome(from events.PeerID, session events.Hash, timeout bool, culprits ...events.PeerID) {
	report := &events.CulpritReport{Session: session, Culprits: culprits, Error: "vss verify failed", Timeout: timeout}
	w.apply(&events.CulpritReportReceived{Msg: w.signed(from, events.TypeCulprits, report)})
}

// TestCulpritReports: a node that did not take part in a failed keygen
// blocks the culprit that t+1 participants report, and nothing less:
// not one participant twice, not a report from outside the attempt, not
// a culprit outside it, not a participant reporting itself, not another
// session's report.
func TestCulpritReports(t *testing.T) {
	w, a := newWatcher(t)
	p := func(i int) events.PeerID { return a.Committee[i] }
	culprit := p(2)
	blocked := func() bool { return w.state.Blocks.BlockedFor(culprit, projections.BlockCulprit) }

	w.report(p(0), a.Sum, culprit)
	w.report(p(0), a.Sum, culprit)                    // the same participant again
	w.report(eventstest.Peer(7), a.Sum, culprit)      // not a participant
	w.report(p(1), eventstest.Hash("other"), culprit) // another session
	w.report(culprit, a.Sum, culprit)                 // itself
	w.report(p(1), a.Sum, eventstest.Peer(8))         // a culprit outside the attempt
	if blocked() || w.state.Blocks.Blocked(eventstest.Peer(8)) {
		t.Fatal("blocked on fewer than t+1 valid reports")
	}
	w.report(p(1), a.Sum, culprit)
	if !blocked() {
		t.Fatal("two participants (t+1) reported the culprit, and it is not blocked")
	}
	if !w.state.Blocks.HasEvidenceAgainst(culprit) {
		t.Fatal("a reported culprit does not count as evidence for regroup")
	}
}

// TestSigningCulpritIsLocal: a culprit of a session of this node's own
// (signing or keygen) blocks it here, but no committee honors it: only
// this node saw the failure (a share may be corrupted towards it alone);
// t+1 reports make a culprit every node's (TestCulpritReports).
func TestSigningCulpritIsLocal(t *testing.T) {
	w, _ := newWatcher(t)
	signer, keygenCulprit := eventstest.Peer(5), eventstest.Peer(6)
	w.apply(&events.TSSSessionStarted{Session: eventstest.Hash("sign"), Protocol: events.SessionSigning, Round: 1})
	w.apply(&events.TSSSessionFinished{Session: eventstest.Hash("sign"), Outcome: events.OutcomeFailed, Culprits: []events.PeerID{signer}})
	w.apply(&events.TSSSessionStarted{Session: eventstest.Hash("keygen"), Protocol: events.SessionKeygen, Round: 1})
	w.apply(&events.TSSSessionFinished{Session: eventstest.Hash("keygen"), Outcome: events.OutcomeFailed, Culprits: []events.PeerID{keygenCulprit}})
	b := w.state.Blocks
	if !b.BlockedFor(signer, projections.BlockCulprit) || b.HasEvidenceAgainst(signer) {
		t.Fatal("a signing culprit must be blocked here, and not excluded from regroup")
	}
	if !b.BlockedFor(keygenCulprit, projections.BlockCulprit) || b.HasEvidenceAgainst(keygenCulprit) || b.SharedBlock(keygenCulprit) {
		t.Fatal("a keygen culprit of its own session must be blocked here, and honored by no committee")
	}
}

// TestTimeoutReports: t+1 participants reporting a keygen timeout on the
// same peer block nobody (a peer that never started looks the same as a
// silent one) but leave it out of the next attempt, at every node alike;
// a proof-failure report is tallied apart.
func TestTimeoutReports(t *testing.T) {
	w, a := newWatcher(t)
	p := func(i int) events.PeerID { return a.Committee[i] }
	silent := p(0)
	w.reportOutcome(p(1), a.Sum, true, silent)
	w.report(p(2), a.Sum, p(1)) // a proof failure: tallied apart
	w.reportOutcome(p(2), a.Sum, true, silent)
	if w.state.Blocks.Blocked(silent) {
		t.Fatal("blocked on timeout reports")
	}
	for i := range 3 {
		w.apply(&events.KeygenCommitReceived{Msg: w.signed(p(i), events.TypeKeygenCommit, &events.KeygenCommit{Epoch: a.Epoch, Sum: a.Sum})})
	}
	w.now = w.now.Add(5 * time.Minute) // the next keygen epoch
	w.apply(&events.Tick{Time: w.now})
	h := w.state.Committees.History()
	next := h[len(h)-1]
	if cur := w.state.Committees.Current(); cur != nil {
		next = *cur
	}
	// p(2) disputed p(1) (a proof failure nobody confirmed): both sit out
	// too; p(0) for the t+1 timeout reports.
	if next.Epoch != a.Epoch+1 || !slices.Equal(next.Excluded, slices.Sorted(slices.Values([]events.PeerID{p(0), p(1), p(2)}))) {
		t.Fatalf("next attempt %d excludes %v, want the silent peer and the two disputants", next.Epoch, next.Excluded)
	}
}

// nextEpoch pings every peer and ticks into the next keygen epoch,
// returning the attempt it opened (or recorded as skipped).
func (w *watcher) nextEpoch(seq uint64) projections.Attempt {
	w.t.Helper()
	if cur := w.state.Committees.Current(); cur != nil {
		for _, p := range cur.Participants() { // commits complete: nobody is a faulty committer
			w.apply(&events.KeygenCommitReceived{Msg: w.signed(p, events.TypeKeygenCommit, &events.KeygenCommit{Epoch: cur.Epoch, Sum: cur.Sum})})
		}
	}
	w.now = w.now.Add(5*time.Minute - 2*time.Second)
	w.apply(&events.Tick{Time: w.now})
	for peer := range 3 {
		body, err := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(peer), Seq: seq, Time: w.now, StakeTx: stakeTx(peer)})
		if err != nil {
			w.t.Fatal(err)
		}
		w.apply(&events.PingReceived{Msg: eventstest.Signed(events.TypePing, peer, body)})
	}
	w.now = w.now.Add(2 * time.Second)
	w.apply(&events.Tick{Time: w.now})
	if cur := w.state.Committees.Current(); cur != nil {
		return *cur
	}
	h := w.state.Committees.History()
	return h[len(h)-1]
}

// TestDisputesEscalate: a proof failure only its reporter saw sits the
// reporter and the peer it named out of the next attempt; disputants
// again sit out as many attempts as the recent attempts they disputed
// in, so a peer that keeps disputing cannot stall keygen every other
// epoch.
func TestDisputesEscalate(t *testing.T) {
	w, a := newWatcher(t)
	reporter, named := a.Committee[1], a.Committee[2]
	w.report(reporter, a.Sum, named)
	disputants := slices.Sorted(slices.Values([]events.PeerID{reporter, named}))
	excluded := func(at projections.Attempt) bool { return slices.Equal(at.Excluded, disputants) }

	if next := w.nextEpoch(2); !excluded(next) {
		t.Fatalf("attempt after the dispute excludes %v, want both disputants", next.Excluded)
	}
	again := w.nextEpoch(3)
	if len(again.Excluded) != 0 || again.Sum == (events.Hash{}) {
		t.Fatalf("two attempts after one dispute: excludes %v, want everyone back", again.Excluded)
	}
	w.report(reporter, again.Sum, named) // a second dispute
	for i, want := range []bool{true, true, false} {
		if got := excluded(w.nextEpoch(uint64(4 + i))); got != want {
			t.Fatalf("attempt %d after the second dispute: disputants excluded %t, want %t", i+1, got, want)
		}
	}
}
