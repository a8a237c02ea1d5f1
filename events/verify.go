package events

import (
	"errors"
	"fmt"
)

// VerifyReport summarizes a verified log.
type VerifyReport struct {
	Events  uint64
	LastSeq uint64
	Bytes   uint64 // record bytes, headers included
}

// Verify reads the whole log: every page of the events bucket, every
// record's checksum, seq, kind and body, and that the log starts with its
// genesis event. It stops at the first fault with a one-line error.
//
// bbolt's own Tx.Check is not used: it walks pages in a goroutine of its
// own, where a damaged page panics beyond recovery.
func (s *Store) Verify() (report VerifyReport, err error) {
	err = s.Scan(1, 0, func(rec Record) error {
		if _, err := DecodeEvent(rec.Kind, rec.Body); err != nil {
			return fmt.Errorf("read log %s: %w: seq %d: %v", s.path, ErrCorrupt, rec.Seq, err)
		}
		if rec.Seq == 1 && rec.Kind != KindGenesis {
			return fmt.Errorf("read log %s: %w: seq 1 is a %s event, a log starts with genesis", s.path, ErrCorrupt, rec.Kind)
		}
		report.Events++
		report.LastSeq = rec.Seq
		report.Bytes += uint64(recordHeaderSize + len(rec.Body))
		return nil
	})
	if err == nil && report.LastSeq != s.LastSeq() {
		err = fmt.Errorf("read log %s: %w: read up to seq %d, the log ends at %d", s.path, ErrCorrupt, report.LastSeq, s.LastSeq())
	}
	return report, err
}

// IsDamage reports whether err says the log is damaged or foreign, as
// opposed to in use, missing or closed.
func IsDamage(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, ErrForeign) || errors.Is(err, ErrUnknownKind)
}
