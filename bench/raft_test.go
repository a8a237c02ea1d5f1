package bench_test

import (
	"testing"

	"github.com/metanode/metanode/bench"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/replay"
)

func BenchmarkRaft(b *testing.B) {
	for range b.N {
		res, err := bench.Raft(bench.RaftOptions{Dir: b.TempDir(), Count: 20_000, Kills: 3})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.EventsPerSec, "events/s")
		b.ReportMetric(res.ReferenceEventsPerSec, "single-node-events/s")
		b.ReportMetric(res.P99CommitMs, "p99-ms")
		b.ReportMetric(res.FailoverMaxMs, "failover-max-ms")
	}
}

// TestRaftRuns runs the replication benchmark tiny and checks its
// bookkeeping against the replicas' logs, not its speed.
func TestRaftRuns(t *testing.T) {
	const count, kills = 300, 2
	res, err := bench.Raft(bench.RaftOptions{Dir: t.TempDir(), Count: count, Appenders: 8, Kills: kills, LoadPerSec: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Events != count || res.Kills != kills || res.EventsPerSec <= 0 || res.ReferenceEventsPerSec <= 0 ||
		res.P50CommitMs <= 0 || res.P99CommitMs < res.P50CommitMs || res.ReferenceP99CommitMs < res.ReferenceP50CommitMs || res.EventsPerApply < 1 {
		t.Fatalf("throughput figures inconsistent: %+v", res)
	}
	// No follower can stand for election before it has missed the killed
	// leader for a heartbeat timeout: a shorter failover was mismeasured.
	if res.FailoverMinMs < res.HeartbeatTimeoutMs/2 || res.FailoverP50Ms < res.FailoverMinMs || res.FailoverMaxMs < res.FailoverP50Ms || res.ElectionTimeoutMs <= 0 {
		t.Fatalf("failover figures inconsistent: %+v", res)
	}
	// every kill elected a leader that committed its first append, and so
	// did the first election
	if res.Elections < kills+1 {
		t.Fatalf("%d elections for %d kills", res.Elections, kills)
	}
	// each append committed once in the count; the logs hold them and at
	// most the refused ones besides
	if res.Committed != count+res.Elections+res.LoadAppends || res.LogEvents < uint64(res.Committed) || res.LogEvents > uint64(res.Committed+res.Refused) {
		t.Fatalf("%d appends committed (%d events, %d leaders' first, %d load), %d refused, %d in the logs",
			res.Committed, count, res.Elections, res.LoadAppends, res.Refused, res.LogEvents)
	}

	if len(res.LogDirs) != 3 {
		t.Fatalf("%d replicas' logs", len(res.LogDirs))
	}
	stores := make([]*events.Store, len(res.LogDirs))
	for i, dir := range res.LogDirs {
		s, err := events.Open(dir, events.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
		if s.LastSeq() != res.LogEvents {
			t.Fatalf("replica %d's log has %d events, want %d", i, s.LastSeq(), res.LogEvents)
		}
	}
	for i := 1; i < len(stores); i++ {
		diff, err := replay.Diff(stores[0], stores[i])
		if err != nil {
			t.Fatal(err)
		}
		if diff.First != nil || diff.Compared != res.LogEvents {
			t.Fatalf("replicas 0 and %d: %v (compared %d of %d)", i, diff.First, diff.Compared, res.LogEvents)
		}
	}

	// every event of the throughput figure is in the logs
	want := map[string]int{}
	for _, ev := range eventstest.Pings(count, 20) {
		body, err := events.EncodeEvent(nil, ev)
		if err != nil {
			t.Fatal(err)
		}
		want[string(body)]++
	}
	if err := stores[0].ScanChunked(1, 0, func(rec events.Record) error {
		if n := want[string(rec.Body)]; n > 0 {
			want[string(rec.Body)] = n - 1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for body, n := range want {
		if n > 0 {
			t.Fatalf("an event appended (%d bytes) is missing from the logs", len(body))
		}
	}
}
