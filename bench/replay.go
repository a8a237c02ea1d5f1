package bench

import (
	"fmt"
	"path/filepath"
	"runtime"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

// ReplayResult is the replay benchmark on one core: reading, checking,
// decoding and folding a log of pings, against bare msgpack decoding of
// the same event bodies from memory.
type ReplayResult struct {
	Events            int     `json:"events"`
	EventsPerSec      float64 `json:"events_per_sec"`
	LimitEventsPerSec float64 `json:"limit_events_per_sec"` // bare msgpack decoding
	Ratio             float64 `json:"ratio"`
	GoalEventsPerSec  float64 `json:"goal_events_per_sec"`
	GoalRatio         float64 `json:"goal_ratio"`
	StateHash         string  `json:"state_hash"`
}

// Replay writes a log of count ping-sized events under dir and measures
// both sides with GOMAXPROCS=1. Each side runs rounds times; the best
// round counts, which filters out a busy moment of the machine.
func Replay(dir string, count, rounds int) (ReplayResult, error) {
	res := ReplayResult{Events: count, GoalEventsPerSec: 1_000_000, GoalRatio: 0.5}
	evs := append([]events.Event{eventstest.Samples()[0]}, eventstest.Pings(count-1, 20)...)
	logDir := filepath.Join(dir, "replay")
	if err := writeLog(logDir, evs); err != nil {
		return res, err
	}
	store, err := events.Open(logDir, events.Options{ReadOnly: true})
	if err != nil {
		return res, err
	}
	defer store.Close()

	type body struct {
		kind events.Kind
		data []byte
	}
	bodies := make([]body, len(evs))
	for i, ev := range evs {
		data, err := events.EncodeEvent(nil, ev)
		if err != nil {
			return res, err
		}
		bodies[i] = body{ev.Kind(), data}
	}

	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var best, bestLimit time.Duration
	for range max(1, rounds) {
		runtime.GC()
		start := time.Now()
		out, err := replay.Run(store, projections.NewState(), replay.Until{})
		if err != nil {
			return res, err
		}
		if took := time.Since(start); best == 0 || took < best {
			best = took
		}
		if out.Events != uint64(count) {
			return res, fmt.Errorf("replayed %d events of %d", out.Events, count)
		}
		res.StateHash = out.StateHash.String()

		runtime.GC()
		start = time.Now()
		for _, b := range bodies {
			ev := newZero(b.kind)
			if err := msgpack.Unmarshal(b.data, ev); err != nil {
				return res, err
			}
		}
		if took := time.Since(start); bestLimit == 0 || took < bestLimit {
			bestLimit = took
		}
	}
	res.EventsPerSec = float64(count) / best.Seconds()
	res.LimitEventsPerSec = float64(count) / bestLimit.Seconds()
	res.Ratio = res.EventsPerSec / res.LimitEventsPerSec
	return res, nil
}

// newZero allocates the event a body decodes into, as replay does.
func newZero(k events.Kind) events.Event {
	switch k {
	case events.KindGenesis:
		return &events.Genesis{}
	case events.KindTick:
		return &events.Tick{}
	}
	return &events.PingReceived{}
}

// writeLog writes evs to a new log in large appends.
func writeLog(dir string, evs []events.Event) error {
	store, err := events.Open(dir, events.Options{})
	if err != nil {
		return err
	}
	for i := 0; i < len(evs); i += 4096 {
		if _, err := store.Append(evs[i:min(i+4096, len(evs))]...); err != nil {
			store.Close()
			return err
		}
	}
	return store.Close()
}
