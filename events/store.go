package events

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Options tune a Store. The zero value is a writable store with defaults.
type Options struct {
	// ReadOnly opens an existing log for reading; it may be shared with
	// other readers but not with a writer.
	ReadOnly bool
	// MaxBatch caps the events of one group commit (default 4096).
	MaxBatch int
	// LockTimeout is how long Open waits for another process's lock
	// (default 1 s) before failing with ErrLocked.
	LockTimeout time.Duration
	// NoSync skips fsync: appends are not durable. Only for simulations,
	// whose logs can be rebuilt from their seed; never for a node.
	NoSync bool
	// Observe, if set, is called by the store's writer after each group
	// commit that appended events: how many records it wrote and how long
	// the bbolt transaction took to write and fsync them. It runs on the
	// writer goroutine, so it must return quickly (a metrics observer).
	Observe func(records int, sync time.Duration)
}

// Store is the append-only event log of one node, in a bbolt file.
//
// Appends are group-committed: concurrent Append calls that arrive while a
// commit is being written go into the next commit together, one fsync for
// all of them. Append returns only once its events are durable.
type Store struct {
	path     string
	db       *bolt.DB
	maxBatch int
	readOnly bool
	observe  func(records int, sync time.Duration)

	appends chan *appendRequest
	writer  sync.WaitGroup

	mu       sync.Mutex // guards closed, last, applied and advanced
	closed   bool
	last     uint64
	applied  uint64        // raft index of the last replicated entry appended
	advanced chan struct{} // closed and replaced when last grows
	inflight sync.WaitGroup

	commits atomic.Uint64
	written atomic.Uint64
}

type appendRequest struct {
	applied uint64 // raft index the events come from (0: not replicated)
	kinds   []Kind
	bodies  [][]byte
	done    chan appendResult
}

type appendResult struct {
	first uint64
	err   error
}

// Open opens the log in dir, creating it unless opts.ReadOnly. A file that
// is not a metanode log, or is damaged, is refused with an error naming the
// file and the fault.
func Open(dir string, opts Options) (s *Store, err error) {
	path := filepath.Join(dir, FileName)
	fail := func(err error) error { return fmt.Errorf("open log %s: %w", path, err) }

	info, statErr := os.Stat(path)
	switch {
	case errors.Is(statErr, os.ErrNotExist) && opts.ReadOnly:
		return nil, fmt.Errorf("open log %s: %w: %s is missing", dir, ErrNoLog, FileName)
	case errors.Is(statErr, os.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fail(err)
		}
	case statErr != nil:
		return nil, fail(statErr)
	case info.IsDir():
		return nil, fail(fmt.Errorf("%w: it is a directory", ErrForeign))
	case info.Size() == 0 && opts.ReadOnly:
		return nil, fail(fmt.Errorf("%w: the file is empty", ErrCorrupt))
	}

	// bbolt maps the file into memory; a truncated or corrupt file faults
	// or panics on access. Turn both into an error for this goroutine.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fail(fmt.Errorf("%w: %v", ErrCorrupt, r))
		}
	}()

	lockTimeout := opts.LockTimeout
	if lockTimeout <= 0 {
		lockTimeout = time.Second
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:  lockTimeout,
		ReadOnly: opts.ReadOnly,
		NoSync:   opts.NoSync,
		// The freelist stays on disk (NoFreelistSync off): rebuilding it
		// at open runs bbolt's page check in a goroutine of its own, where
		// a damaged page would crash the process instead of failing Open.
		FreelistType: bolt.FreelistMapType,
	})
	if err != nil {
		return nil, fail(describeOpenError(err))
	}
	s = &Store{
		path:     path,
		db:       db,
		maxBatch: opts.MaxBatch,
		readOnly: opts.ReadOnly,
		observe:  opts.Observe,
		advanced: make(chan struct{}),
	}
	if s.maxBatch <= 0 {
		s.maxBatch = 4096
	}
	if err := s.checkFile(); err != nil {
		db.Close()
		return nil, fail(err)
	}
	if !opts.ReadOnly {
		s.appends = make(chan *appendRequest, 1024)
		s.writer.Add(1)
		go s.writeLoop()
	}
	return s, nil
}

func describeOpenError(err error) error {
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return ErrLocked
	case errors.Is(err, bolterrors.ErrInvalid), errors.Is(err, bolterrors.ErrVersionMismatch):
		return fmt.Errorf("%w: %v", ErrForeign, err)
	case errors.Is(err, bolterrors.ErrChecksum):
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	// bbolt reports a short file as "file size too small" and similar
	// with plain errors; anything else from Open is damage too.
	return fmt.Errorf("%w: %v", ErrCorrupt, err)
}

// checkFile makes sure the file is a metanode log of a version we read,
// that the file is as long as its pages say, creates the buckets of a new
// log, and loads the last seq.
func (s *Store) checkFile() error {
	info, err := os.Stat(s.path)
	if err != nil {
		return err
	}
	init := func(tx *bolt.Tx) error {
		if need := tx.Size(); need > info.Size() {
			return fmt.Errorf("%w: file is truncated: %d bytes, its pages need %d", ErrCorrupt, info.Size(), need)
		}
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			if s.readOnly || tx.Bucket(bucketEvents) != nil || !isEmpty(tx) {
				return fmt.Errorf("%w: no %q bucket (a bbolt file of another program?)", ErrForeign, bucketMeta)
			}
			return createBuckets(tx)
		}
		if format := meta.Get(keyFormat); !bytes.Equal(format, []byte(formatMarker)) {
			return fmt.Errorf("%w: format marker %q", ErrForeign, format)
		}
		version := meta.Get(keyVersion)
		if len(version) != 4 {
			return fmt.Errorf("%w: layout version missing", ErrCorrupt)
		}
		if v := binary.BigEndian.Uint32(version); v != StoreVersion {
			return fmt.Errorf("layout version %d, this metanode reads %d", v, StoreVersion)
		}
		events := tx.Bucket(bucketEvents)
		if events == nil {
			return fmt.Errorf("%w: %q bucket missing", ErrCorrupt, bucketEvents)
		}
		if k, _ := events.Cursor().Last(); k != nil {
			if len(k) != 8 {
				return fmt.Errorf("%w: last key has %d bytes, want 8", ErrCorrupt, len(k))
			}
			s.last = binary.BigEndian.Uint64(k)
		}
		if v := meta.Get(keyRaftApplied); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: raft index has %d bytes, want 8", ErrCorrupt, len(v))
			}
			s.applied = binary.BigEndian.Uint64(v)
		}
		return nil
	}
	if s.readOnly {
		return s.db.View(init)
	}
	return s.db.Update(init)
}

func isEmpty(tx *bolt.Tx) bool {
	empty := true
	_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
		empty = false
		return errors.New("stop")
	})
	return empty
}

func createBuckets(tx *bolt.Tx) error {
	meta, err := tx.CreateBucket(bucketMeta)
	if err != nil {
		return err
	}
	if err := meta.Put(keyFormat, []byte(formatMarker)); err != nil {
		return err
	}
	if err := meta.Put(keyVersion, binary.BigEndian.AppendUint32(nil, StoreVersion)); err != nil {
		return err
	}
	_, err = tx.CreateBucket(bucketEvents)
	return err
}

// Path is the log's file.
func (s *Store) Path() string { return s.path }

// LastSeq is the seq of the last durable event, 0 for an empty log.
func (s *Store) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// Append writes events to the end of the log and returns the seq of the
// first; the others follow without gaps. It returns once they are durable
// (fsynced), or with an error, in which case none of them were written.
func (s *Store) Append(evs ...Event) (first uint64, err error) {
	if len(evs) == 0 {
		return 0, errors.New("append: no events")
	}
	req := &appendRequest{
		kinds:  make([]Kind, len(evs)),
		bodies: make([][]byte, len(evs)),
		done:   make(chan appendResult, 1),
	}
	for i, ev := range evs {
		body, err := EncodeEvent(nil, ev)
		if err != nil {
			return 0, fmt.Errorf("append: %w", err)
		}
		if len(body) > MaxRecordBody {
			return 0, fmt.Errorf("append: %s event of %d bytes exceeds the %d-byte limit", ev.Kind(), len(body), MaxRecordBody)
		}
		req.kinds[i], req.bodies[i] = ev.Kind(), body
	}
	return s.submit(req)
}

// Encoded is an event already in its stored form (EncodeEvent).
type Encoded struct {
	Kind Kind
	Body []byte
}

// AppendReplicated appends events that raft committed at index (an HA
// replica's FSM), recording the index in the same transaction: after a
// crash, RaftApplied says which entries the log holds already, so none
// is appended twice. Like Append, it returns the first event's seq.
func (s *Store) AppendReplicated(index uint64, evs []Encoded) (first uint64, err error) {
	req, err := s.replicatedRequest(index, evs)
	if err != nil {
		return 0, err
	}
	return s.submit(req)
}

// AppendReplicatedAsync queues what AppendReplicated writes and returns
// at once; the returned channel gets its result when it is durable.
// Requests are written in the order they are queued, so an FSM can hand
// over its next batch while the last is being synced, and one fsync
// covers several.
func (s *Store) AppendReplicatedAsync(index uint64, evs []Encoded) <-chan AppendResult {
	out := make(chan AppendResult, 1)
	req, err := s.replicatedRequest(index, evs)
	if err == nil {
		err = s.enter()
	}
	if err != nil {
		out <- AppendResult{Err: err}
		return out
	}
	s.appends <- req
	go func() {
		res := <-req.done
		s.inflight.Done()
		out <- AppendResult{First: res.first, Err: res.err}
	}()
	return out
}

// AppendResult is an asynchronous append's outcome.
type AppendResult struct {
	First uint64
	Err   error
}

func (s *Store) replicatedRequest(index uint64, evs []Encoded) (*appendRequest, error) {
	if len(evs) == 0 {
		return nil, errors.New("append: no events")
	}
	req := &appendRequest{applied: index, kinds: make([]Kind, len(evs)), bodies: make([][]byte, len(evs)), done: make(chan appendResult, 1)}
	for i, ev := range evs {
		if len(ev.Body) > MaxRecordBody {
			return nil, fmt.Errorf("append: %s event of %d bytes exceeds the %d-byte limit", ev.Kind, len(ev.Body), MaxRecordBody)
		}
		req.kinds[i], req.bodies[i] = ev.Kind, ev.Body
	}
	return req, nil
}

// RaftApplied is the raft index of the last replicated entry the log
// holds (0 for a log that is not a replica's).
func (s *Store) RaftApplied() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied
}

func (s *Store) submit(req *appendRequest) (uint64, error) {
	if err := s.enter(); err != nil {
		return 0, err
	}
	defer s.inflight.Done()
	s.appends <- req
	res := <-req.done
	return res.first, res.err
}

// enter counts an append in flight (Close waits for it), or refuses it.
func (s *Store) enter() error {
	if s.readOnly {
		return ErrReadOnly
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

// writeLoop is the single writer. Each pass takes every request queued so
// far (up to maxBatch events) and commits them in one bbolt transaction.
func (s *Store) writeLoop() {
	defer s.writer.Done()
	var batch []*appendRequest
	var keys, records []byte
	for req := range s.appends {
		batch = append(batch[:0], req)
		count := len(req.kinds)
	gather:
		for count < s.maxBatch {
			select {
			case more, ok := <-s.appends:
				if !ok {
					break gather
				}
				batch = append(batch, more)
				count += len(more.kinds)
			default:
				break gather
			}
		}
		keys, records = s.commit(batch, count, keys[:0], records[:0])
	}
}

// commit writes one batch. keys and records are arenas reused across
// commits: bbolt needs keys and values to stay valid until the commit.
func (s *Store) commit(batch []*appendRequest, count int, keys, records []byte) ([]byte, []byte) {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()

	size := 0
	for _, req := range batch {
		for _, body := range req.bodies {
			size += recordHeaderSize + len(body)
		}
	}
	keys = growTo(keys, 8*count)
	records = growTo(records, size)

	var began time.Time
	if s.observe != nil {
		began = time.Now()
	}
	var applied uint64
	for _, req := range batch {
		applied = max(applied, req.applied)
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		if applied > 0 {
			if err := tx.Bucket(bucketMeta).Put(keyRaftApplied, binary.BigEndian.AppendUint64(nil, applied)); err != nil {
				return fmt.Errorf("put raft index: %w", err)
			}
		}
		bucket := tx.Bucket(bucketEvents)
		bucket.FillPercent = 1 // keys only ever grow: pack pages full
		seq := last
		for _, req := range batch {
			for i, body := range req.bodies {
				seq++
				k := len(keys)
				keys = AppendSeqKey(keys, seq)
				r := len(records)
				records = AppendRecord(records, seq, req.kinds[i], body)
				if err := bucket.Put(keys[k:len(keys):len(keys)], records[r:len(records):len(records)]); err != nil {
					return fmt.Errorf("put seq %d: %w", seq, err)
				}
			}
		}
		return nil
	})
	var took time.Duration
	if s.observe != nil {
		took = time.Since(began)
	}

	// The last seq advances, and the observer hears of the commit, before
	// any appender returns: an append that returned is in LastSeq, so a
	// read up to it sees it.
	if err == nil {
		s.commits.Add(1)
		s.written.Add(uint64(count))
		s.mu.Lock()
		s.last = last + uint64(count)
		s.applied = max(s.applied, applied)
		close(s.advanced)
		s.advanced = make(chan struct{})
		s.mu.Unlock()
		if s.observe != nil {
			s.observe(count, took)
		}
	}
	next := last + 1
	for _, req := range batch {
		if err != nil {
			req.done <- appendResult{err: fmt.Errorf("append to %s: %w", s.path, err)}
			continue
		}
		req.done <- appendResult{first: next}
		next += uint64(len(req.kinds))
	}
	return keys[:0], records[:0]
}

// growTo returns b emptied with room for n bytes, so appends within n
// never move it (slices handed to bbolt must stay put).
func growTo(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, 0, n)
	}
	return b[:0]
}

// Advanced returns a channel that is closed when the log grows past its
// current last seq (or the store closes): the way to follow the tail.
func (s *Store) Advanced() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.advanced
}

// StoreStats counts the work of a store since it was opened.
type StoreStats struct {
	Commits uint64 // bbolt transactions (fsyncs) that appended events
	Events  uint64 // events appended
}

// Stats reports the store's counters.
func (s *Store) Stats() StoreStats {
	return StoreStats{Commits: s.commits.Load(), Events: s.written.Load()}
}

// Close waits for appends in flight, then closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	if s.appends != nil {
		close(s.appends)
		s.writer.Wait()
	}
	s.mu.Lock()
	close(s.advanced) // stays closed: followers wake up and see ErrClosed
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", s.path, err)
	}
	return nil
}
