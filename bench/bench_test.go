package bench_test

import (
	"testing"

	"github.com/metanode/metanode/bench"
)

// These print the figures of `metanode bench` under go test -bench; they
// assert nothing about speed (a test never asserts a wall-clock time).

func BenchmarkLogAppend(b *testing.B) {
	for range b.N {
		res, err := bench.Log(b.TempDir(), 100_000, 256)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.EventsPerSec, "events/s")
		b.ReportMetric(res.LimitEventsPerSec, "raw-bbolt-events/s")
		b.ReportMetric(res.P99AppendMs, "p99-ms")
		b.ReportMetric(res.MeanBatch, "events/commit")
	}
}

func BenchmarkReplay(b *testing.B) {
	for range b.N {
		res, err := bench.Replay(b.TempDir(), 500_000, 3)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(res.EventsPerSec, "events/s")
		b.ReportMetric(res.LimitEventsPerSec, "bare-msgpack-events/s")
		b.ReportMetric(res.Ratio, "ratio")
	}
}

// TestBenchmarksRun runs both benchmarks small, so a change that breaks
// them fails make test; it checks their bookkeeping, not their speed.
func TestBenchmarksRun(t *testing.T) {
	logRes, err := bench.Log(t.TempDir(), 2000, 16)
	if err != nil {
		t.Fatal(err)
	}
	if logRes.EventsPerSec <= 0 || logRes.LimitEventsPerSec <= 0 || logRes.MeanBatch < 1 || logRes.P99AppendMs < logRes.P50AppendMs {
		t.Fatalf("log benchmark figures inconsistent: %+v", logRes)
	}
	replayRes, err := bench.Replay(t.TempDir(), 5000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if replayRes.EventsPerSec <= 0 || replayRes.LimitEventsPerSec <= 0 || replayRes.StateHash == "" {
		t.Fatalf("replay benchmark figures inconsistent: %+v", replayRes)
	}
}
