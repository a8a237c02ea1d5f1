package ha

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/hashicorp/raft"

	"github.com/metanode/metanode/events"
)

// fsm is raft's state machine: the replica's event store. Every replica
// applies the same committed entries in the same order, so every
// replica's log holds the same records under the same seqs.
type fsm struct {
	store *events.Store

	mu    sync.Mutex
	fatal error // the store refused a committed entry: the replica must stop
}

// applyResult is the FSM's answer to one entry: the seq of its first
// event, which the leader's Append returns.
type applyResult struct {
	first uint64
	err   error
}

// errReplayed answers an entry the log holds already (raft hands entries
// after its last snapshot over again at a restart).
var errReplayed = errors.New("raft entry applied before")

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch appends the events of every new command entry in one
// transaction of the store (one fsync for the batch).
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if err := f.failed(); err != nil {
		for i := range out {
			out[i] = applyResult{err: err}
		}
		return out
	}
	applied := f.store.RaftApplied()
	var all []events.Encoded
	counts := make([]int, len(logs))
	var last uint64
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= applied {
			out[i] = applyResult{err: errReplayed}
			continue
		}
		evs, err := decodeEntry(l.Data)
		if err != nil {
			// the same bytes fail alike on every replica: skipped by all
			out[i] = applyResult{err: err}
			continue
		}
		all = append(all, evs...)
		counts[i] = len(evs)
		last = l.Index
	}
	if len(all) == 0 {
		return out
	}
	first, err := f.store.AppendReplicated(last, all)
	if err != nil {
		err = fmt.Errorf("replica's log refused committed entries %d..%d: %w", logs[0].Index, last, err)
		f.mu.Lock()
		f.fatal = err
		f.mu.Unlock()
	}
	next := first
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if err != nil {
			out[i] = applyResult{err: err}
			continue
		}
		out[i] = applyResult{first: next}
		next += uint64(c)
	}
	return out
}

func (f *fsm) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

// Snapshot captures how far the log goes; Persist streams it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	if err := f.failed(); err != nil {
		return nil, err
	}
	return &logSnapshot{store: f.store, applied: f.store.RaftApplied(), last: f.store.LastSeq()}, nil
}

// Restore brings the log up to a snapshot's: the records it lacks are
// appended; those it holds are left alone.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	if err := restoreLog(f.store, rc); err != nil {
		f.mu.Lock()
		f.fatal = err
		f.mu.Unlock()
		return err
	}
	return nil
}
