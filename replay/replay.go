package replay

import (
	"errors"
	"fmt"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/projections"
)

// Until says where a replay stops. The zero value replays the whole log.
type Until struct {
	// Seq: stop after this seq (0: no limit).
	Seq uint64
	// Time: stop before the first tick later than this time (0: no limit),
	// so the state is the node's state as of its clock reading Time.
	Time events.Time
}

// Result is where a replay ended and the state it reached.
type Result struct {
	Events    uint64      // events folded
	LastSeq   uint64      // seq of the last event folded
	StateHash events.Hash // projections.StateHash of the projection
}

var errStop = errors.New("stop")

// Run folds the log in store through p, from its first event up to until.
func Run(store *events.Store, p projections.Projection, until Until) (Result, error) {
	var res Result
	err := store.ForEach(1, until.Seq, func(seq uint64, ev events.Event) error {
		if until.Time != 0 {
			if tick, ok := ev.(*events.Tick); ok && tick.Time > until.Time {
				return errStop
			}
		}
		p.Apply(seq, ev)
		res.Events++
		res.LastSeq = seq
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return res, fmt.Errorf("replay: %w", err)
	}
	res.StateHash = projections.StateHash(p)
	return res, nil
}
