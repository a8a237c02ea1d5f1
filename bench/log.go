package bench

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

// LogResult is the durable-append benchmark: the store's group-committed
// appends from concurrent writers, against raw bbolt writing the same
// record bytes with the same batch size.
type LogResult struct {
	Events            int     `json:"events"`
	Appenders         int     `json:"appenders"`
	EventsPerSec      float64 `json:"events_per_sec"`
	P50AppendMs       float64 `json:"p50_append_ms"`
	P99AppendMs       float64 `json:"p99_append_ms"`
	MeanBatch         float64 `json:"mean_batch"`
	LimitEventsPerSec float64 `json:"limit_events_per_sec"` // raw bbolt, same bytes and batch size
	Ratio             float64 `json:"ratio"`                // events_per_sec / limit_events_per_sec
	GoalEventsPerSec  float64 `json:"goal_events_per_sec"`
	GoalP99AppendMs   float64 `json:"goal_p99_append_ms"`
}

// Log appends count ping-sized events from appenders goroutines, one event
// per Append, to a new log under dir, then writes the same records with
// raw bbolt transactions of the mean batch size the store reached.
func Log(dir string, count, appenders int) (LogResult, error) {
	evs := eventstest.Pings(count, 20)
	res, err := logAppends(filepath.Join(dir, "store"), evs, appenders)
	if err != nil {
		return res, err
	}
	batch := max(1, int(math.Round(res.MeanBatch)))
	limit, err := rawBolt(filepath.Join(dir, "raw.db"), evs, batch)
	if err != nil {
		return res, err
	}
	res.LimitEventsPerSec = limit
	res.Ratio = res.EventsPerSec / limit
	return res, nil
}

// logAppends appends evs to a new log in dir from appenders goroutines,
// one event per Append: Log's figure without its raw bbolt limit.
func logAppends(dir string, evs []events.Event, appenders int) (LogResult, error) {
	res := LogResult{Events: len(evs), Appenders: appenders, GoalEventsPerSec: 50_000, GoalP99AppendMs: 10}
	store, err := events.Open(dir, events.Options{})
	if err != nil {
		return res, err
	}
	defer store.Close()
	elapsed, latencies, err := appendAll(len(evs), appenders, func(i int) error {
		_, err := store.Append(evs[i])
		return err
	})
	if err != nil {
		return res, err
	}
	stats := store.Stats()
	res.EventsPerSec = float64(len(evs)) / elapsed.Seconds()
	res.MeanBatch = float64(stats.Events) / float64(stats.Commits)
	res.P50AppendMs = ms(percentile(latencies, 0.50))
	res.P99AppendMs = ms(percentile(latencies, 0.99))
	return res, nil
}

// appendAll calls appendOne for every index below count from appenders
// goroutines, each taking the next index in turn, and returns how long
// they all took and each call's latency, sorted. It stops at the first
// error.
func appendAll(count, appenders int, appendOne func(i int) error) (time.Duration, []time.Duration, error) {
	var next atomic.Int64
	latencies := make([][]time.Duration, appenders)
	errs := make(chan error, appenders)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(count) {
					return
				}
				t0 := time.Now()
				if err := appendOne(int(i)); err != nil {
					errs <- err
					next.Store(int64(count)) // the others stop too
					return
				}
				latencies[w] = append(latencies[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return elapsed, nil, err
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return elapsed, all, nil
}

// rawBolt writes the records the store would write, batch per bbolt
// transaction, with the store's bbolt options, and returns events/s.
func rawBolt(path string, evs []events.Event, batch int) (float64, error) {
	keys := make([][]byte, len(evs))
	records := make([][]byte, len(evs))
	for i, ev := range evs {
		body, err := events.EncodeEvent(nil, ev)
		if err != nil {
			return 0, err
		}
		keys[i] = events.AppendSeqKey(nil, uint64(i+1))
		records[i] = events.AppendRecord(nil, uint64(i+1), ev.Kind(), body)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("events")); return err }); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < len(evs); i += batch {
		err := db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			b.FillPercent = 1
			for j := i; j < min(i+batch, len(evs)); j++ {
				if err := b.Put(keys[j], records[j]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("raw bbolt: %w", err)
		}
	}
	return float64(len(evs)) / time.Since(start).Seconds(), nil
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
