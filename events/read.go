package events

import (
	"context"
	"encoding/binary"
	"fmt"
	"runtime/debug"

	bolt "go.etcd.io/bbolt"
)

// Scan calls fn with every record from seq from through seq to (to == 0:
// to the end), in order. It checks each record's checksum, that its seq
// equals its key, and that seqs have no gaps; the first fault ends the scan
// with an error wrapping ErrCorrupt (or ErrUnknownKind). Record.Body is
// valid only during fn. An error from fn ends the scan and is returned.
func (s *Store) Scan(from, to uint64, fn func(Record) error) (err error) {
	if from == 0 {
		from = 1
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	// A damaged page faults or panics inside bbolt; report it as damage.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("read log %s: %w: %v", s.path, ErrCorrupt, r)
		}
	}()
	return s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketEvents).Cursor()
		want := from
		for k, v := c.Seek(seqKey(from)); k != nil; k, v = c.Next() {
			if to != 0 && want > to {
				return nil
			}
			if len(k) != 8 {
				return fmt.Errorf("read log %s: %w: key of %d bytes after seq %d", s.path, ErrCorrupt, len(k), want-1)
			}
			if seq := binary.BigEndian.Uint64(k); seq != want {
				return fmt.Errorf("read log %s: %w: seq %d missing (next key is %d)", s.path, ErrCorrupt, want, seq)
			}
			rec, err := ParseRecord(v)
			if err != nil {
				return fmt.Errorf("read log %s: %w", s.path, err)
			}
			if rec.Seq != want {
				return fmt.Errorf("read log %s: %w: key %d holds the record of seq %d", s.path, ErrCorrupt, want, rec.Seq)
			}
			if err := fn(rec); err != nil {
				return err
			}
			want++
		}
		return nil
	})
}

// ForEach is Scan with every event decoded.
func (s *Store) ForEach(from, to uint64, fn func(seq uint64, ev Event) error) error {
	return s.Scan(from, to, func(rec Record) error {
		ev, err := DecodeEvent(rec.Kind, rec.Body)
		if err != nil {
			return fmt.Errorf("read log %s: %w: seq %d: %v", s.path, ErrCorrupt, rec.Seq, err)
		}
		return fn(rec.Seq, ev)
	})
}

// Follow calls fn for every event from seq from on, then waits for new
// ones, until ctx ends (returning ctx.Err()), the store closes (ErrClosed)
// or fn fails. fn runs inside a read transaction, like ForEach's: it
// must not block on anything an appender may hold (the node's lock, a
// slow network peer), because a commit that grows the file waits for
// every read transaction to end. A reader with slow work returns from fn
// (an error of its own) when it has caught up, works, and follows again.
func (s *Store) Follow(ctx context.Context, from uint64, fn func(seq uint64, ev Event) error) error {
	if from == 0 {
		from = 1
	}
	for {
		advanced := s.Advanced()
		last := s.LastSeq()
		if from <= last {
			if err := s.ForEach(from, last, fn); err != nil {
				return err
			}
			from = last + 1
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-advanced:
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return ErrClosed
			}
		}
	}
}

// ReadChunk is how many records ScanChunked reads in one transaction.
const ReadChunk = 4096

// ScanChunked is Scan in read transactions of at most ReadChunk records
// each, up to to (0: the last seq when it starts): a long read by a
// server (an audit, an index catching up) never holds a read transaction
// long enough to stall the node's appends (a commit that grows the file
// waits for every read transaction to end).
func (s *Store) ScanChunked(from, to uint64, fn func(Record) error) error {
	if to == 0 {
		to = s.LastSeq()
	}
	for ; from <= to; from += ReadChunk {
		if err := s.Scan(from, min(to, from+ReadChunk-1), fn); err != nil {
			return err
		}
	}
	return nil
}

// ForEachChunked is ScanChunked with every event decoded.
func (s *Store) ForEachChunked(from, to uint64, fn func(seq uint64, ev Event) error) error {
	return s.ScanChunked(from, to, func(rec Record) error {
		ev, err := DecodeEvent(rec.Kind, rec.Body)
		if err != nil {
			return fmt.Errorf("read log %s: %w: seq %d: %v", s.path, ErrCorrupt, rec.Seq, err)
		}
		return fn(rec.Seq, ev)
	})
}
