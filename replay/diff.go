package replay

import (
	"crypto/sha512"
	"errors"
	"fmt"

	"github.com/metanode/metanode/events"
)

// RecordSummary is what a person needs to see of one record to tell two
// apart: its kind, the hash of its body and the body's length.
type RecordSummary struct {
	Kind      events.Kind
	BodyHash  events.Hash // H (SHA-512/256) of the encoded body
	BodyBytes int
}

func summarize(rec events.Record) RecordSummary {
	return RecordSummary{Kind: rec.Kind, BodyHash: sha512.Sum512_256(rec.Body), BodyBytes: len(rec.Body)}
}

// ShortHash is the first 16 hex digits of the body hash: enough for a
// person to see two bodies differ.
func (r RecordSummary) ShortHash() string { return r.BodyHash.String()[:16] }

func (r RecordSummary) String() string {
	return fmt.Sprintf("%s %s (%d bytes)", r.Kind, r.ShortHash(), r.BodyBytes)
}

// Difference is where two logs first differ: the seq and what each log
// holds there.
type Difference struct {
	Seq  uint64
	A, B RecordSummary
}

func (d *Difference) String() string {
	return fmt.Sprintf("first difference at seq %d: A has %s, B has %s", d.Seq, d.A, d.B)
}

// DiffResult is what Diff found.
type DiffResult struct {
	LastA, LastB uint64 // each log's last seq
	// Compared is how many seqs were compared: min(LastA, LastB) when the
	// common prefix is identical, First.Seq otherwise.
	Compared uint64
	// First is the first seq at which the logs differ; nil when one log
	// is a prefix of the other (a replica that is only behind).
	First *Difference
}

// diffWindow is how many seqs Diff compares at a time: one read
// transaction on each log, and the summaries of one window of B in memory.
const diffWindow = events.ReadChunk

var errDiffer = errors.New("logs differ")

// Diff compares two logs record by record (kind and body at each seq; two
// bodies with the same length and SHA-512/256 are the same bytes) up to
// the end of the shorter one and stops at the first difference. Logs of
// different lengths whose common prefix is identical do not differ.
// Memory stays bounded whatever the logs' lengths: B is read a window at
// a time, each record kept only as its summary, and A's records of the
// same window are checked against them.
func Diff(a, b *events.Store) (DiffResult, error) {
	res := DiffResult{LastA: a.LastSeq(), LastB: b.LastSeq()}
	common := min(res.LastA, res.LastB)
	window := make([]RecordSummary, 0, min(common, diffWindow))
	for from := uint64(1); from <= common; from += diffWindow {
		to := min(common, from+diffWindow-1)
		window = window[:0]
		err := b.ScanChunked(from, to, func(rec events.Record) error {
			window = append(window, summarize(rec))
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("diff: %w", err)
		}
		if got := uint64(len(window)); got != to-from+1 {
			return res, fmt.Errorf("diff: read log %s: %w: seqs %d to %d hold %d records", b.Path(), events.ErrCorrupt, from, to, got)
		}
		read := uint64(0)
		err = a.ScanChunked(from, to, func(rec events.Record) error {
			read++
			if ra, rb := summarize(rec), window[rec.Seq-from]; ra != rb {
				res.First = &Difference{Seq: rec.Seq, A: ra, B: rb}
				return errDiffer
			}
			return nil
		})
		if errors.Is(err, errDiffer) {
			res.Compared = res.First.Seq
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("diff: %w", err)
		}
		if read != to-from+1 {
			return res, fmt.Errorf("diff: read log %s: %w: seqs %d to %d hold %d records", a.Path(), events.ErrCorrupt, from, to, read)
		}
	}
	res.Compared = common
	return res, nil
}
