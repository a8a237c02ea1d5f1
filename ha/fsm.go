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
	files Files // nil: file entries are refused
	// restored is told of every installed snapshot
	restored func()

	mu    sync.Mutex
	fatal error // the store refused a committed entry: the replica must stop
	// last: the last append handed to the store. The FSM does not wait
	// for its appends to be durable (raft hands over its next batch while
	// the store syncs the last, and one fsync covers several); the store
	// writes them in order, so waiting for the last waits for all: a
	// snapshot, a restore, a file entry and a new leader's barrier do.
	last *appendDone
}

// waitDurable waits until every append handed to the store is durable.
func (f *fsm) waitDurable() {
	f.mu.Lock()
	last := f.last
	f.mu.Unlock()
	if last != nil {
		<-last.done
	}
}

// applyResult is the FSM's answer to one entry: the seq of its first
// event, which the leader's Append returns, once durable (durable: nil
// for an answer known at once).
type applyResult struct {
	first   uint64
	err     error
	durable *appendDone
}

// appendDone is an asynchronous append's outcome, shared by the entries
// of one batch.
type appendDone struct {
	done  chan struct{}
	first uint64
	err   error
}

// result waits until the entry's events are durable.
func (r applyResult) result() (uint64, error) {
	if r.durable == nil {
		return r.first, r.err
	}
	<-r.durable.done
	if r.durable.err != nil {
		return 0, r.durable.err
	}
	return r.durable.first + r.first, nil
}

// errReplayed answers an entry the log holds already (raft hands entries
// after its last snapshot over again at a restart).
var errReplayed = errors.New("raft entry applied before")

var _ raft.BatchingFSM = (*fsm)(nil)

func (f *fsm) Apply(l *raft.Log) any { return f.ApplyBatch([]*raft.Log{l})[0] }

// ApplyBatch appends the events of every new command entry in one
// transaction of the store (one fsync for the batch); a file entry is
// written in its place in the order.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if err := f.failed(); err != nil {
		for i := range out {
			out[i] = applyResult{err: err}
		}
		return out
	}
	applied := f.store.RaftApplied()
	var pending []events.Encoded
	var waiting []int // entries whose events are pending, and their counts
	var counts []int
	var last uint64
	flush := func() {
		if len(pending) == 0 {
			return
		}
		done := &appendDone{done: make(chan struct{})}
		result := f.store.AppendReplicatedAsync(last, pending)
		f.mu.Lock()
		f.last = done
		f.mu.Unlock()
		go func(last uint64) {
			res := <-result
			done.first, done.err = res.First, res.Err
			if res.Err != nil {
				done.err = fmt.Errorf("replica's log refused committed entries up to %d: %w", last, res.Err)
				f.mu.Lock()
				f.fatal = done.err
				f.mu.Unlock()
			}
			close(done.done)
		}(last)
		var offset uint64
		for k, i := range waiting {
			out[i] = applyResult{first: offset, durable: done}
			offset += uint64(counts[k])
		}
		pending, waiting, counts = nil, waiting[:0], counts[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if l.Index <= applied {
			out[i] = applyResult{err: errReplayed}
			continue
		}
		if len(l.Data) > 0 && l.Data[0] == fileVersion {
			flush()
			f.waitDurable()
			out[i] = applyResult{err: f.putFile(l.Data)}
			continue
		}
		evs, err := decodeEntry(l.Data)
		if err != nil {
			// the same bytes fail alike on every replica: skipped by all
			out[i] = applyResult{err: err}
			continue
		}
		pending = append(pending, evs...)
		waiting = append(waiting, i)
		counts = append(counts, len(evs))
		last = l.Index
	}
	flush()
	return out
}

// putFile writes a replicated file; a replica that cannot is one that
// would not hold the current key's share: it stops.
func (f *fsm) putFile(entry []byte) error {
	name, data, err := decodeFile(entry)
	if err != nil {
		return err
	}
	if f.files == nil {
		return errors.New("this replica keeps no replicated files")
	}
	if err := f.files.Check(name); err != nil {
		return err // refused alike by every replica
	}
	if err := f.files.Put(name, data); err != nil {
		err = fmt.Errorf("replicated file %s not written: %w", name, err)
		f.mu.Lock()
		f.fatal = err
		f.mu.Unlock()
		return err
	}
	return nil
}

func (f *fsm) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fatal
}

// Snapshot captures how far the log goes; Persist streams it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.waitDurable() // a snapshot covers what raft applied: durable first
	if err := f.failed(); err != nil {
		return nil, err
	}
	return &logSnapshot{store: f.store, files: f.files, applied: f.store.RaftApplied(), last: f.store.LastSeq()}, nil
}

// Restore brings the log up to a snapshot's: the records it lacks are
// appended; those it holds are left alone.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.waitDurable()
	// a failure leaves a prefix of the snapshot's log, which raft's
	// retry (or an older snapshot) completes
	if err := restoreLog(f.store, f.files, rc); err != nil {
		return err
	}
	if f.restored != nil {
		f.restored()
	}
	return nil
}
