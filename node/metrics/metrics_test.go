package metrics_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/node/internal/nodetest"
	"github.com/metanode/metanode/node/metrics"
)

// scrape reads every sample the handler serves: series -> value.
func scrape(t *testing.T, h http.Handler) map[string]float64 {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("scrape: %d %s", resp.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// waitFor scrapes until ok holds.
func waitFor(t *testing.T, h http.Handler, what string, ok func(map[string]float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := scrape(t, h)
		if ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never; last scrape %v", what, s)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetrics(t *testing.T) {
	var hook metrics.CommitHook
	nodes := nodetest.Network(t, 2, func(i int, cfg *node.Config) {
		if i == 0 {
			cfg.LogObserve = hook.Observe
		}
	})
	reg := prometheus.NewRegistry()
	m := metrics.New(reg, nodes[0])
	hook.Attach(m)
	h := m.Handler(reg)

	// Before Run: the status gauges, and nothing counted from the log.
	s := scrape(t, h)
	if s["metanode_log_seq"] != 1 || s["metanode_log_appends_total"] != 1 || s["metanode_peers_listed"] != 0 ||
		s[`metanode_messages_received_total{type="ping"}`] != 0 || s[`metanode_rounds_total{outcome="signed"}`] != 0 {
		t.Fatalf("fresh node: %v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	// Run reads from the log's end when it starts: tick until it counts.
	second := 0
	for {
		nodetest.Tick(t, nodes, second, 1)
		second++
		if scrape(t, h)[`metanode_messages_received_total{type="ping"}`] > 0 {
			break
		}
		if second > 1000 {
			t.Fatal("Run never counted a received ping")
		}
	}
	// A signed round: the session starts after the signing-set phase.
	start := second
	for second%60 < 30 || second == start {
		nodetest.Tick(t, nodes, second, 1)
		second++
	}
	round := nodetest.Round(second - 1)
	session := eventstest.Hash("session")
	if err := nodes[0].Record(&events.TSSSessionStarted{Session: session, Protocol: events.SessionSigning, Round: round,
		Parties: []events.PeerID{nodes[0].ID(), nodes[1].ID()}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a session of some length
	if err := nodes[0].Record(&events.TSSSessionFinished{Session: session, Outcome: events.OutcomeSuccess, Signature: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	for nodetest.Round(second) == round { // into the next round: the signed one ends
		nodetest.Tick(t, nodes, second, 1)
		second++
	}
	nodetest.Tick(t, nodes, second, 1)

	s = waitFor(t, h, "the signed round and its session counted", func(s map[string]float64) bool {
		return s[`metanode_rounds_total{outcome="signed"}`] == 1 &&
			s[`metanode_tss_session_seconds_count{kind="signing",outcome="success"}`] == 1 &&
			s["metanode_metrics_followed_seq"] == float64(nodes[0].Log().LastSeq())
	})
	if got := s[`metanode_tss_session_seconds_sum{kind="signing",outcome="success"}`]; got < 0.02 || got > 5 {
		t.Errorf("session of %v s, want about 0.02", got)
	}
	if s[`metanode_tss_session_seconds_bucket{kind="signing",outcome="success",le="0.3"}`] != 1 {
		t.Errorf("session buckets: %v", s)
	}
	// Rounds ended while Run followed, before the signed one, were
	// skipped (no key); none counted twice.
	if s[`metanode_rounds_total{outcome="aborted"}`] != 0 || s[`metanode_rounds_total{outcome="set_signing"}`] != 0 {
		t.Errorf("rounds: %v", s)
	}
	if s[`metanode_messages_sent_total{type="ping"}`] == 0 || s[`metanode_messages_received_total{type="ping"}`] == 0 ||
		s[`metanode_events_total{kind="tick"}`] == 0 || s[`metanode_events_total{kind="tss-session-started"}`] != 1 {
		t.Errorf("message counts: %v", s)
	}
	// From the status at scrape time.
	log := nodes[0].Log()
	if s["metanode_peers_listed"] != 2 || s["metanode_peers_seen"] != 1 || s["metanode_peers_known"] != 2 ||
		s["metanode_log_seq"] != float64(log.LastSeq()) || s["metanode_log_appends_total"] != float64(log.Stats().Events) ||
		s["metanode_stake_checks_asked_total"] == 0 || s["metanode_pings_sent_total"] == 0 || s["metanode_key_current"] != 0 ||
		s["metanode_round"] != float64(nodetest.Round(second)) || s["metanode_last_tick_timestamp_seconds"] != float64(nodetest.Start.Unix()+int64(second)) {
		t.Errorf("status metrics: %v", s)
	}
	for _, reason := range []string{"unadmitted", "strangers", "early", "invalid"} {
		if _, ok := s[`metanode_messages_dropped_total{reason="`+reason+`"}`]; !ok {
			t.Errorf("no dropped count for %s", reason)
		}
	}
	if _, ok := s[`metanode_blocks_in_force{reason="tss_culprit"}`]; !ok {
		t.Errorf("no blocks gauge: %v", s)
	}
	// The commit observer: one fsync observation per commit since Attach.
	if n := s["metanode_log_fsync_seconds_count"]; n == 0 || n > s["metanode_log_commits_total"] {
		t.Errorf("%v fsyncs observed, %v commits", n, s["metanode_log_commits_total"])
	}

	// Counters move with appends.
	before := s[`metanode_messages_received_total{type="ping"}`]
	nodetest.Tick(t, nodes, second+1, 6) // node 1 pings twice
	waitFor(t, h, "received pings counted", func(s map[string]float64) bool {
		return s[`metanode_messages_received_total{type="ping"}`] >= before+2
	})

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end with its context")
	}
}

// TestRunEndsWhenTheLogCloses: a closed log ends Run without an error.
func TestRunEndsWhenTheLogCloses(t *testing.T) {
	nodes := nodetest.Network(t, 1, nil)
	m := metrics.New(prometheus.NewRegistry(), nodes[0])
	done := make(chan error, 1)
	go func() { done <- m.Run(context.Background()) }()
	time.Sleep(10 * time.Millisecond)
	if err := nodes[0].Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not end when the log closed")
	}
}

// TestRaftMetrics: an HA replica's raft state and commit latencies.
func TestRaftMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := metrics.NewRaft(reg)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	if s := scrape(t, h); s["metanode_raft_commit_seconds_count"] != 0 || len(s) == 0 {
		t.Fatalf("before Attach: %v", s)
	}
	r.Attach(func() ha.Status {
		return ha.Status{ID: "a", Role: "leader", LeaderID: "a", Term: 4, CommitIndex: 12, LogApplied: 9, LeaderChanges: 2}
	})
	r.ObserveCommit(3 * time.Millisecond)
	s := scrape(t, h)
	for series, want := range map[string]float64{
		"metanode_raft_leader": 1, "metanode_raft_term": 4, "metanode_raft_apply_lag": 3, "metanode_raft_leader_changes_total": 2,
		`metanode_raft_role{role="leader"}`: 1, `metanode_raft_role{role="follower"}`: 0, "metanode_raft_commit_seconds_count": 1,
	} {
		if s[series] != want {
			t.Errorf("%s = %v, want %v", series, s[series], want)
		}
	}
}
