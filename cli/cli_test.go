package cli_test

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/metanode/metanode/cli"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	app := cli.NewApp()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"metanode"}, args...))
	return out.String(), err
}

func writeLog(t *testing.T) (string, []events.Event) {
	t.Helper()
	evs := append(eventstest.Samples(), eventstest.Pings(3000, 7)...)
	return writeEvents(t, evs), evs
}

func writeEvents(t *testing.T, evs []events.Event) string {
	t.Helper()
	dir := t.TempDir()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(evs...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLogVerify(t *testing.T) {
	dir, evs := writeLog(t)
	out, err := run(t, "log", "verify", "--log", dir)
	if err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("intact log: %q, %v", out, err)
	}

	data, _ := os.ReadFile(filepath.Join(dir, events.FileName))
	// a ping near the middle: long enough for the byte flipped below to
	// fall inside its own body
	i := 2000
	for evs[i].Kind() != events.KindPingReceived {
		i++
	}
	seq := uint64(i + 1)
	body, _ := events.EncodeEvent(nil, evs[i])
	at := bytes.Index(data, events.AppendRecord(nil, seq, evs[i].Kind(), body))
	if at < 0 {
		t.Fatal("record not found")
	}

	flipped := t.TempDir()
	damaged := bytes.Clone(data)
	damaged[at+40] ^= 0x01
	os.WriteFile(filepath.Join(flipped, events.FileName), damaged, 0o600)
	_, err = run(t, "log", "verify", "--log", flipped)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("seq %d", seq)) || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Fatalf("flipped byte: err = %v, want a checksum mismatch at seq %d", err, seq)
	}

	truncated := t.TempDir()
	os.WriteFile(filepath.Join(truncated, events.FileName), data[:at+40], 0o600)
	_, err = run(t, "log", "verify", "--log", truncated)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated file: err = %v", err)
	}

	out, err = run(t, "log", "verify", "--json", "--log", flipped)
	var report struct {
		OK    bool   `json:"ok"`
		Fault string `json:"fault"`
	}
	if jerr := json.Unmarshal([]byte(out), &report); jerr != nil || err == nil || report.OK || report.Fault == "" {
		t.Fatalf("verify --json on damage: %q, %v", out, err)
	}
}

func TestReplayCommand(t *testing.T) {
	dir, _ := writeLog(t)
	replayJSON := func(args ...string) (out struct {
		Events    uint64 `json:"events"`
		StateHash string `json:"state_hash"`
	}) {
		t.Helper()
		text, err := run(t, append([]string{"replay", "--json", "--log", dir}, args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(text), &out); err != nil {
			t.Fatalf("%v in %q", err, text)
		}
		return out
	}
	full, again := replayJSON(), replayJSON()
	if full.StateHash == "" || full != again {
		t.Fatalf("replays differ: %+v %+v", full, again)
	}
	if bySeq := replayJSON("--until", "100"); bySeq.Events != 100 || bySeq.StateHash == full.StateHash {
		t.Fatalf("--until 100: %+v", bySeq)
	}
	if byTime := replayJSON("--until", "2026-01-01T00:00:30Z"); byTime.Events == 0 || byTime.Events >= full.Events {
		t.Fatalf("--until time: %+v", byTime)
	}
	if _, err := run(t, "replay", "--log", dir, "--until", "soon"); err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad --until: %v", err)
	}
}

func TestReplayDiffCommand(t *testing.T) {
	dir, evs := writeLog(t)
	n := len(evs)
	behind := writeEvents(t, evs[:1000])
	i := 2000
	for evs[i].Kind() != events.KindPingReceived {
		i++
	}
	forkedEvs := slices.Clone(evs)
	forkedEvs[i] = &events.Tick{Time: eventstest.Epoch}
	forked := writeEvents(t, forkedEvs[:i+10])
	seq := i + 1
	// what the command should say about the two records at seq
	hashOf := func(ev events.Event) (string, int) {
		body, err := events.EncodeEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		return events.Hash(sha512.Sum512_256(body)).String(), len(body)
	}
	pingHash, pingLen := hashOf(evs[i])
	tickHash, tickLen := hashOf(forkedEvs[i])

	for _, tc := range []struct{ a, b, want string }{
		{dir, dir, fmt.Sprintf("identical up to seq %d (A has %d records, B has %d)\n", n, n, n)},
		{behind, dir, fmt.Sprintf("identical up to seq 1000 (A has 1000 records, B has %d)\n", n)},
		{dir, behind, fmt.Sprintf("identical up to seq 1000 (A has %d records, B has 1000)\n", n)},
	} {
		if out, err := run(t, "replay", "diff", "--log", tc.a, "--log", tc.b); err != nil || out != tc.want {
			t.Errorf("diff %s %s: %q, %v; want %q", tc.a, tc.b, out, err, tc.want)
		}
	}

	// Logs that differ fail the command (exit status 1) with one line.
	out, err := run(t, "replay", "diff", "--log", dir, "--log", forked)
	want := fmt.Sprintf("replay diff: first difference at seq %d: A has ping-received %s (%d bytes), B has tick %s (%d bytes)",
		seq, pingHash[:16], pingLen, tickHash[:16], tickLen)
	if err == nil || err.Error() != want || out != "" {
		t.Errorf("differing logs: %q, %v\nwant the error %q", out, err, want)
	}

	type record struct {
		Kind      string `json:"kind"`
		BodyHash  string `json:"body_hash"`
		BodyBytes int    `json:"body_bytes"`
	}
	type side struct {
		Log     string `json:"log"`
		LastSeq uint64 `json:"last_seq"`
	}
	type report struct {
		A               side   `json:"a"`
		B               side   `json:"b"`
		Compared        uint64 `json:"compared"`
		Identical       bool   `json:"identical"`
		FirstDifference *struct {
			Seq uint64 `json:"seq"`
			A   record `json:"a"`
			B   record `json:"b"`
		} `json:"first_difference"`
	}
	diffJSON := func(a, b string) (report, error) {
		t.Helper()
		out, err := run(t, "replay", "diff", "--json", "--log", a, "--log", b)
		var r report
		if jerr := json.Unmarshal([]byte(out), &r); jerr != nil {
			t.Fatalf("%v in %q", jerr, out)
		}
		return r, err
	}
	r, err := diffJSON(behind, dir)
	if err != nil || !r.Identical || r.FirstDifference != nil || r.Compared != 1000 ||
		r.A != (side{filepath.Join(behind, events.FileName), 1000}) || r.B != (side{filepath.Join(dir, events.FileName), uint64(n)}) {
		t.Errorf("--json, a log behind: %+v, %v", r, err)
	}
	r, err = diffJSON(dir, forked)
	wantFirst := struct {
		Seq uint64 `json:"seq"`
		A   record `json:"a"`
		B   record `json:"b"`
	}{uint64(seq), record{"ping-received", pingHash, pingLen}, record{"tick", tickHash, tickLen}}
	if err == nil || err.Error() != want || r.Identical || r.Compared != uint64(seq) || r.FirstDifference == nil || *r.FirstDifference != wantFirst ||
		r.A.LastSeq != uint64(n) || r.B.LastSeq != uint64(i+10) {
		t.Errorf("--json, differing logs: %+v (first %+v), %v", r, r.FirstDifference, err)
	}

	// Anything but two readable logs is a one-line error.
	missing := filepath.Join(t.TempDir(), "nowhere")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--log", dir}, "give --log exactly twice"},
		{[]string{"--log", dir, "--log", dir, "--log", dir}, "give --log exactly twice"},
		{nil, "give --log exactly twice"},
		{[]string{"--log", dir, "--log", dir, "extra"}, `unexpected argument "extra"`},
		{[]string{"--log", dir, "--log", missing}, "log B: open log " + missing},
		{[]string{"--log", missing, "--log", dir}, "log A: open log " + missing},
	} {
		_, err := run(t, append([]string{"replay", "diff"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("replay diff %q: %v; want one line with %q", tc.args, err, tc.want)
		}
	}

	// replay itself still wants its --log.
	if _, err := run(t, "replay"); err == nil || err.Error() != `Required flag "log" not set` {
		t.Errorf("replay without --log: %v", err)
	}
}

func TestEnvironmentMirrorsFlags(t *testing.T) {
	dir, _ := writeLog(t)
	t.Setenv("METANODE_LOG", dir)
	t.Setenv("METANODE_TAIL_N", "3")
	out, err := run(t, "log", "tail")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(out, "\n"); lines != 3 {
		t.Fatalf("tail with METANODE_TAIL_N=3 printed %d lines:\n%s", lines, out)
	}
}

func TestStatsAndTail(t *testing.T) {
	dir, evs := writeLog(t)
	out, err := run(t, "log", "stats", "--json", "--log", dir)
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Events    uint64 `json:"events"`
		PeersSeen int    `json:"peers_seen"`
		Network   string `json:"network"`
	}
	if err := json.Unmarshal([]byte(out), &stats); err != nil {
		t.Fatal(err)
	}
	if stats.Events != uint64(len(evs)) || stats.PeersSeen == 0 || stats.Network != "testnet" {
		t.Fatalf("stats %+v", stats)
	}
	out, err = run(t, "log", "tail", "-n", "2", "--log", dir)
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, "ping") {
		t.Fatalf("tail: %q %v", out, err)
	}
	if _, err := run(t, "log", "stats", "--log", t.TempDir()); err == nil || !strings.Contains(err.Error(), "no event log") {
		t.Fatalf("stats of an empty dir: %v", err)
	}
}

func TestQueryPeers(t *testing.T) {
	dir := t.TempDir()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The samples hold a tick, a good ping from peer 1, and a stake answer
	// for it: confirmed 100 h ago, bound to peer 1.
	if _, err := s.Append(eventstest.Samples()...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := run(t, "query", "peers", "--json", "--log", dir)
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Peers []struct {
			Peer      string `json:"peer"`
			Listed    bool   `json:"listed"`
			Seniority int    `json:"seniority"`
			Stake     string `json:"stake"`
		} `json:"peers"`
	}
	if err := json.Unmarshal([]byte(out), &table); err != nil {
		t.Fatal(err)
	}
	// Peer 1 is listed; the node itself (from its own sent ping) is in
	// the table too, but no stake answer about it has come.
	rows := map[string]int{}
	for i, row := range table.Peers {
		rows[row.Peer] = i
	}
	peer1, ok1 := rows[fmt.Sprintf("%x", eventstest.Peer(1))]
	self, ok0 := rows[fmt.Sprintf("%x", eventstest.Peer(0))]
	if len(table.Peers) != 2 || !ok1 || !ok0 {
		t.Fatalf("peer table %+v: want peer 1 and the node itself", table.Peers)
	}
	if p := table.Peers[peer1]; !p.Listed || p.Seniority != 1 || p.Stake != "ok" {
		t.Fatalf("peer 1: %+v", p)
	}
	if p := table.Peers[self]; p.Listed || p.Stake != "stake not checked yet" {
		t.Fatalf("the node itself: %+v", p)
	}
	// As of seq 3 the stake answer has not arrived yet.
	out, err = run(t, "query", "peers", "--log", dir, "--until", "3")
	if err != nil || !strings.Contains(out, "stake not checked yet") || !strings.Contains(out, "0 in the peer list") {
		t.Fatalf("query peers --until 3:\n%s %v", out, err)
	}
}
