package api_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/node/api"
	"github.com/metanode/metanode/node/internal/nodetest"
)

var info = api.Info{Moniker: "alpha", Version: "v0.test", ListenAddr: "/ip4/127.0.0.1/tcp/12121", RestAddr: "127.0.0.1:8067",
	Network: "nodetest", GenesisHash: "feedface"}

func hex(p events.PeerID) string { return fmt.Sprintf("%x", []byte(p)) }

// serve runs the API of node 0 of a two-node network; node 1 is
// connected.
func serve(t *testing.T, ready func() error) ([]*node.Node, *httptest.Server) {
	t.Helper()
	nodes := nodetest.Network(t, 2, nil)
	h := api.New(nodes[0], info, api.Options{
		Connected: func() []events.PeerID { return []events.PeerID{nodes[1].ID()} },
		Ready:     ready,
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return nodes, srv
}

// get fetches path and decodes its JSON into out (if not nil); it
// returns the status code.
func get(t *testing.T, srv *httptest.Server, path string, out any) int {
	t.Helper()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: content type %q", path, ct)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: %v in %s", path, err, body)
		}
	}
	return resp.StatusCode
}

// wantError checks that path answers code with a one-line JSON error.
func wantError(t *testing.T, srv *httptest.Server, method, path string, code int) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	if resp.StatusCode != code || json.Unmarshal(body, &e) != nil || e.Error == "" || strings.Count(string(body), "\n") != 1 {
		t.Errorf("%s %s: %d %q, want %d and a one-line JSON error", method, path, resp.StatusCode, body, code)
	}
}

func TestStatusStarting(t *testing.T) {
	_, srv := serve(t, nil)
	var st api.Status
	if code := get(t, srv, "/api/v1/status", &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	if st.State != api.StateStarting || st.Round != nil || st.Key != nil || st.Log.Seq != 1 || !st.Ready {
		t.Fatalf("status of a node without ticks: %+v", st)
	}
}

func TestStatusAndPeers(t *testing.T) {
	nodes, srv := serve(t, nil)
	nodetest.Tick(t, nodes, 0, 10)
	self, other := nodes[0].ID(), nodes[1].ID()

	var st api.Status
	if code := get(t, srv, "/api/v1/status", &st); code != http.StatusOK {
		t.Fatalf("status: %d", code)
	}
	want := api.NodeInfo{Moniker: "alpha", ID: hex(self), PeerID: peer.ID(self).String(), ListenAddr: info.ListenAddr, RestAddr: info.RestAddr,
		Network: "nodetest", GenesisHash: "feedface", Version: "v0.test"}
	if st.NodeInfo != want {
		t.Errorf("nodeInfo %+v, want %+v", st.NodeInfo, want)
	}
	if st.NodeInfo.PeerID == "" || !strings.HasPrefix(st.NodeInfo.PeerID, "12D3Koo") {
		t.Errorf("peerId %q: not a libp2p id", st.NodeInfo.PeerID)
	}
	log := nodes[0].Log()
	if st.State != api.StateNoKey || st.NodeState != "idle" || st.Key != nil || st.Round == nil || st.Round.Number != nodetest.Round(0) ||
		st.Round.Phase != "proposals" || st.Round.Outcome != "pending" {
		t.Errorf("status: state %s/%s, key %v, round %+v", st.State, st.NodeState, st.Key, st.Round)
	}
	if st.Peers != (api.StatusPeers{Seen: 1, Known: 2, Listed: 2, Connected: 1}) {
		t.Errorf("peers %+v", st.Peers)
	}
	if st.Log.Seq != log.LastSeq() || st.Log.Events != log.LastSeq() || st.Log.LastTick != events.TimeOf(nodetest.Start.Add(9*time.Second)).String() ||
		len(st.Log.StateHash) != 64 || len(st.Log.PerKind) == 0 || st.PingsSent != 4 {
		t.Errorf("log %+v, pings sent %d", st.Log, st.PingsSent)
	}
	if st.Dropped.Total != 0 || st.StakeChecksAsked == 0 {
		t.Errorf("dropped %+v, stake checks %d", st.Dropped, st.StakeChecksAsked)
	}

	var peers api.Peers
	if code := get(t, srv, "/api/v1/peers", &peers); code != http.StatusOK || len(peers.Peers) != 2 || peers.Listed != 2 {
		t.Fatalf("peers: %d %+v", code, peers)
	}
	for i, p := range peers.Peers {
		if !p.Active || p.Rank != i+1 || !p.Live || !p.Stake.StakeValid || !p.Stake.Admitted || p.Stake.Amount != 1 ||
			p.Stake.StakeTime == "" || p.StateName != "idle" || p.Blocked != nil || p.LastPing == "" || p.LastPingVerdict != "accepted" {
			t.Errorf("peer %d: %+v", i, p)
		}
		switch p.ID {
		case hex(self):
			if !p.ThisNode || p.Moniker != "alpha" || p.Connected || p.Stake.Tx != "stake-0" {
				t.Errorf("this node's row: %+v", p)
			}
		case hex(other):
			if p.ThisNode || p.Moniker != "" || !p.Connected || p.Stake.Tx != "stake-1" || p.PeerID != peer.ID(other).String() {
				t.Errorf("node 1's row: %+v", p)
			}
		default:
			t.Errorf("unknown peer %s", p.ID)
		}
	}
	// The JSON names are Swingby's.
	var raw struct{ Peers []map[string]any }
	get(t, srv, "/api/v1/peers", &raw)
	for _, key := range []string{"id", "active", "rank", "stake", "state", "state_name", "blocked", "thisNode", "lastPing"} {
		if _, ok := raw.Peers[0][key]; !ok {
			t.Errorf("peer rows lack %q: %v", key, raw.Peers[0])
		}
	}
	stake := raw.Peers[0]["stake"].(map[string]any)
	for _, key := range []string{"tx", "amount", "stakeTime", "stakeValid"} {
		if _, ok := stake[key]; !ok {
			t.Errorf("stake lacks %q: %v", key, stake)
		}
	}
}

// TestRoundsKeysBlocks: a signed round, a key, an aborted round that
// blocks node 1 as a culprit, seen through every endpoint.
func TestRoundsKeysBlocks(t *testing.T) {
	nodes, srv := serve(t, nil)
	nodetest.Tick(t, nodes, 0, 30) // past the signing-set phase: sessions start then
	r0, r1 := nodetest.Round(0), nodetest.Round(60)
	signed, failed := eventstest.Hash("signed"), eventstest.Hash("failed")
	parties := []events.PeerID{nodes[0].ID(), nodes[1].ID()}
	key := &events.KeyPublished{KeyID: eventstest.Hash("key"), PublicKey: []byte{2, 1}, Address: "bc1qvault", Threshold: 2,
		SharePoints: []events.SharePoint{{Peer: eventstest.Peer(7), Point: []byte{3, 7}, ShareID: []byte{7}}, {Peer: eventstest.Peer(8), Point: []byte{3, 8}, ShareID: []byte{8}}}}
	if err := nodes[0].Record(
		&events.TSSSessionStarted{Session: signed, Protocol: events.SessionSigning, Round: r0, Parties: parties},
		&events.TSSSessionFinished{Session: signed, Outcome: events.OutcomeSuccess, Signature: []byte{0x30, 0x44}},
		key,
	); err != nil {
		t.Fatal(err)
	}
	nodetest.Tick(t, nodes, 30, 60) // into round r1, past its signing-set phase
	if err := nodes[0].Record(
		&events.TSSSessionStarted{Session: failed, Protocol: events.SessionSigning, Round: r1, Parties: parties},
		&events.TSSSessionFinished{Session: failed, Outcome: events.OutcomeFailed, Culprits: []events.PeerID{nodes[1].ID()}, Error: "bad share"},
	); err != nil {
		t.Fatal(err)
	}

	var st api.Status
	get(t, srv, "/api/v1/status", &st)
	if st.State != api.StateRunning || st.Key == nil || st.Key.Address != "bc1qvault" || st.Key.Member || st.Key.CommitteeSize != 2 ||
		st.Round.Number != r1 || st.Round.Outcome != "aborted" || st.Round.Session != failed.String() || st.BlocksInForce != 1 {
		t.Fatalf("status: %s key %+v round %+v blocks %d", st.State, st.Key, st.Round, st.BlocksInForce)
	}

	var rounds api.Rounds
	if code := get(t, srv, "/api/v1/rounds", &rounds); code != http.StatusOK || len(rounds.Rounds) != 2 || rounds.Threshold != 2 {
		t.Fatalf("rounds: %d %+v", code, rounds)
	}
	cur, past := rounds.Rounds[0], rounds.Rounds[1]
	if cur.Number != r1 || !cur.Current || cur.Outcome != "aborted" || cur.Session == nil || cur.Session.Outcome != "failed" ||
		cur.Session.Signed || len(cur.Session.Culprits) != 1 || cur.Session.Culprits[0] != hex(nodes[1].ID()) {
		t.Errorf("current round %+v, session %+v", cur, cur.Session)
	}
	if past.Number != r0 || past.Current || past.Outcome != "signed" || past.Session == nil || !past.Session.Signed ||
		past.Session.Signature != "3044" || len(past.Session.Signers) != 2 || past.Session.FinishedSeq <= past.Session.StartedSeq {
		t.Errorf("past round %+v, session %+v", past, past.Session)
	}
	get(t, srv, "/api/v1/rounds?limit=1", &rounds)
	if len(rounds.Rounds) != 1 || rounds.Rounds[0].Number != r1 {
		t.Errorf("rounds?limit=1: %+v", rounds.Rounds)
	}

	var audit struct {
		Round   int64  `json:"round"`
		Outcome string `json:"outcome"`
		Session struct {
			Protocol  string `json:"protocol"`
			Outcome   string `json:"outcome"`
			Signature string `json:"signature"`
		} `json:"tss_session"`
		Proposals []any `json:"proposals"`
	}
	if code := get(t, srv, fmt.Sprintf("/api/v1/rounds/%d", r0), &audit); code != http.StatusOK || audit.Round != r0 || audit.Outcome != "signed" ||
		audit.Session.Protocol != "signing" || audit.Session.Outcome != "success" || audit.Session.Signature != "3044" {
		t.Errorf("audit of round %d: %d %+v", r0, code, audit)
	}
	if code := get(t, srv, fmt.Sprintf("/api/v1/rounds/%d", r1), &audit); code != http.StatusOK || audit.Round != r1 || audit.Outcome != "aborted" {
		t.Errorf("audit of the current round: %d %+v", code, audit)
	}

	var blocks api.Blocks
	if code := get(t, srv, "/api/v1/blocks", &blocks); code != http.StatusOK || len(blocks.Blocks) != 1 {
		t.Fatalf("blocks: %d %+v", code, blocks)
	}
	if b := blocks.Blocks[0]; b.Peer != hex(nodes[1].ID()) || b.Reason != "tss culprit" || !b.InForce || !b.Local || len(b.Evidence) != 1 {
		t.Errorf("block %+v", b)
	}
	get(t, srv, "/api/v1/blocks?all=true", &blocks)
	if len(blocks.Blocks) != 1 {
		t.Errorf("blocks?all=true: %+v", blocks)
	}
	var peers api.Peers
	get(t, srv, "/api/v1/peers", &peers)
	for _, p := range peers.Peers {
		blocked := p.ID == hex(nodes[1].ID())
		if (p.Blocked != nil) != blocked || p.Active == blocked || (blocked && p.Blocked.Reason != "tss culprit") {
			t.Errorf("peer %+v (blocked %v)", p, p.Blocked)
		}
	}

	var keys api.Keys
	if code := get(t, srv, "/api/v1/keys", &keys); code != http.StatusOK || keys.Current == nil {
		t.Fatalf("keys: %d %+v", code, keys)
	}
	if k := keys.Current; k.ID != key.KeyID.String() || k.Address != "bc1qvault" || k.PublicKey != "0201" || k.Threshold != 2 ||
		len(k.Committee) != 2 || k.Committee[0].Peer != hex(eventstest.Peer(7)) || k.Committee[0].Point != "0307" || keys.Member {
		t.Errorf("key %+v", k)
	}
	if len(keys.History) != 1 || keys.History[0] != key.KeyID.String() || keys.NextAttempt == "" || keys.NextAttemptKind != "regroup" || !keys.Locked {
		t.Errorf("keys %+v", keys)
	}
}

func TestBadInput(t *testing.T) {
	nodes, srv := serve(t, nil)
	nodetest.Tick(t, nodes, 0, 1)
	for _, path := range []string{"/api/v1/rounds/abc", "/api/v1/rounds/-3", "/api/v1/rounds/1.5", "/api/v1/events?after=abc",
		"/api/v1/events?after=-1", "/api/v1/events?limit=0", "/api/v1/events?limit=x", "/api/v1/rounds?limit=-2", "/api/v1/blocks?all=maybe"} {
		wantError(t, srv, http.MethodGet, path, http.StatusBadRequest)
	}
	wantError(t, srv, http.MethodGet, "/api/v1/rounds/12", http.StatusNotFound) // no tick in round 12
	wantError(t, srv, http.MethodGet, "/api/v1/nothing", http.StatusNotFound)
	wantError(t, srv, http.MethodGet, "/", http.StatusNotFound)
	wantError(t, srv, http.MethodPost, "/api/v1/status", http.StatusMethodNotAllowed)
	wantError(t, srv, http.MethodDelete, "/api/v1/peers", http.StatusMethodNotAllowed)
}

func TestHealthAndReadiness(t *testing.T) {
	var notReady error = errors.New("no peers connected")
	_, srv := serve(t, func() error { return notReady })
	if code := get(t, srv, "/healthz", nil); code != http.StatusOK {
		t.Errorf("healthz: %d", code)
	}
	wantError(t, srv, http.MethodGet, "/readyz", http.StatusServiceUnavailable)
	var body struct{ Error string }
	get(t, srv, "/readyz", &body)
	if body.Error != "no peers connected" {
		t.Errorf("readyz reason %q", body.Error)
	}
	var st api.Status
	get(t, srv, "/api/v1/status", &st)
	if st.Ready || st.NotReady != "no peers connected" {
		t.Errorf("status ready %v %q", st.Ready, st.NotReady)
	}
	notReady = nil
	if code := get(t, srv, "/readyz", nil); code != http.StatusOK {
		t.Errorf("readyz when ready: %d", code)
	}
	// Without a Ready func the node is ready.
	nodes := nodetest.Network(t, 1, nil)
	bare := httptest.NewServer(api.New(nodes[0], api.Info{}, api.Options{}))
	defer bare.Close()
	var st2 api.Status
	if code := get(t, bare, "/readyz", nil); code != http.StatusOK {
		t.Errorf("readyz without Ready: %d", code)
	}
	if get(t, bare, "/api/v1/status", &st2); st2.NodeInfo.Network != "nodetest" || st2.Peers.Connected != 0 {
		t.Errorf("status without info: %+v", st2.NodeInfo)
	}
}

// readLines reads n JSON lines of an event stream.
func readLines(t *testing.T, r *bufio.Reader, n int) []map[string]any {
	t.Helper()
	var out []map[string]any
	for range n {
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %d lines: %v", len(out), err)
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, obj)
	}
	return out
}

func TestEventStream(t *testing.T) {
	nodes, srv := serve(t, nil)
	nodetest.Tick(t, nodes, 0, 300) // a few hundred events: several batches
	last := nodes[0].Log().LastSeq()

	// The whole log, in order, then the stream ends at the limit.
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/events?after=0&limit=%d", srv.URL, last))
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Errorf("content type %q", ct)
	}
	all, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(all), "\n"), "\n")
	if uint64(len(lines)) != last || len(all) < 64<<10 {
		t.Fatalf("%d lines (%d bytes) for %d events", len(lines), len(all), last)
	}
	for i, line := range lines {
		var obj struct {
			Seq  uint64 `json:"seq"`
			Kind string `json:"kind"`
		}
		if err := json.Unmarshal([]byte(line), &obj); err != nil || obj.Seq != uint64(i+1) || obj.Kind == "" {
			t.Fatalf("line %d: %q (%v)", i, line, err)
		}
		if !strings.HasPrefix(line, fmt.Sprintf(`{"seq":%d,"kind":"%s"`, obj.Seq, obj.Kind)) {
			t.Fatalf("line %d does not start with seq and kind: %s", i, line)
		}
	}
	var genesis struct {
		Kind   string `json:"kind"`
		Params struct {
			Network      string `json:"network"`
			NodeID       string `json:"nodeID"`
			Threshold    int    `json:"threshold"`
			PingInterval string `json:"pingInterval"`
		} `json:"params"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &genesis); err != nil || genesis.Kind != "genesis" || genesis.Params.Network != "nodetest" ||
		genesis.Params.NodeID != hex(nodes[0].ID()) || genesis.Params.Threshold != 2 || genesis.Params.PingInterval != "3s" {
		t.Fatalf("genesis line %s: %+v %v", lines[0], genesis, err)
	}

	// Follow: the stream waits at the end of the log and sends what is
	// appended next.
	resp, err = http.Get(fmt.Sprintf("%s/api/v1/events?after=%d&limit=2", srv.URL, last))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	for vout := range 2 {
		if err := nodes[0].Record(&events.DepositObserved{Chain: "btc", TxID: "abcd", Vout: uint32(vout), Amount: 5000, Confirmations: 2}); err != nil {
			t.Fatal(err)
		}
		got := readLines(t, r, 1)[0]
		if got["seq"] != float64(last+1+uint64(vout)) || got["kind"] != "deposit-observed" || got["txID"] != "abcd" ||
			got["vout"] != float64(vout) || got["amount"] != float64(5000) || got["chain"] != "btc" {
			t.Fatalf("followed %v", got)
		}
	}
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("the stream goes on after its limit: %v", err)
	}
}

// TestEventJSON: a received ping's message shows its sender and its body
// decoded.
func TestEventJSON(t *testing.T) {
	ping := eventstest.PingReceived(3, 7)
	line, err := json.Marshal(api.EventJSON(42, ping))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Seq  uint64 `json:"seq"`
		Kind string `json:"kind"`
		Msg  struct {
			Type string `json:"type"`
			From string `json:"from"`
			Body struct {
				PeerID   string `json:"peerID"`
				Seq      uint64 `json:"seq"`
				State    string `json:"state"`
				Time     string `json:"time"`
				TSSProof string `json:"tssProof"`
				KeyID    string `json:"keyID"`
			} `json:"body"`
			Sig string `json:"sig"`
		} `json:"msg"`
	}
	if err := json.Unmarshal(line, &got); err != nil {
		t.Fatal(err)
	}
	peer := hex(eventstest.Peer(3))
	if got.Seq != 42 || got.Kind != "ping-received" || got.Msg.Type != "ping" || got.Msg.From != peer || got.Msg.Body.PeerID != peer ||
		got.Msg.Body.Seq != 7 || got.Msg.Body.State != "idle" || got.Msg.Body.Time == "" || len(got.Msg.Body.TSSProof) != 2*97 ||
		got.Msg.Body.KeyID != eventstest.Hash("key").String() || len(got.Msg.Sig) != 128 {
		t.Fatalf("%s", line)
	}
	// Every sample event converts.
	for i, ev := range eventstest.Samples() {
		if _, err := json.Marshal(api.EventJSON(uint64(i+1), ev)); err != nil {
			t.Errorf("%s: %v", ev.Kind(), err)
		}
	}
}

// TestEventStreamEndsWithItsClient: a stream without a limit follows
// the log until its client goes away.
func TestEventStreamEndsWithItsClient(t *testing.T) {
	nodes, srv := serve(t, nil)
	nodetest.Tick(t, nodes, 0, 3)
	resp, err := http.Get(srv.URL + "/api/v1/events?after=1")
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(resp.Body)
	if got := readLines(t, r, 2); got[0]["seq"] != float64(2) || got[1]["seq"] != float64(3) {
		t.Fatalf("stream from seq 2: %v", got)
	}
	resp.Body.Close()
	closed := make(chan struct{})
	go func() {
		srv.Close() // waits for the handlers to return
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the stream's handler still runs after its client left")
	}
}

// TestStatusRaft: an HA replica's status shows its raft state; a single
// node's has none.
func TestStatusRaft(t *testing.T) {
	_, single := serve(t, nil)
	var st api.Status
	get(t, single, "/api/v1/status", &st)
	if st.Raft != nil || !st.Leading {
		t.Fatalf("a single node's status: raft %+v, leading %v", st.Raft, st.Leading)
	}
	nodes := nodetest.Network(t, 1, nil)
	srv := httptest.NewServer(api.New(nodes[0], info, api.Options{Raft: func() ha.Status {
		return ha.Status{ID: "b", Role: "follower", LeaderID: "a", LeaderAddr: "10.0.0.1:7000", Term: 3, CommitIndex: 9, LogApplied: 9}
	}}))
	t.Cleanup(srv.Close)
	var raw map[string]json.RawMessage
	get(t, srv, "/api/v1/status", &raw)
	var rs ha.Status
	if err := json.Unmarshal(raw["raft"], &rs); err != nil || rs.Role != "follower" || rs.LeaderID != "a" || rs.Term != 3 {
		t.Fatalf("raft in the status: %s (%v)", raw["raft"], err)
	}
}
