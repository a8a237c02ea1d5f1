package ha

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hashicorp/raft"

	"github.com/metanode/metanode/events"
)

// A snapshot is the whole event log up to a seq:
//
//	magic | raft index applied (uint64) | last seq (uint64) | last × (len uint32 | record)
//	      | files (uint32) | files × (name len uint8 | name | len uint32 | data)
//
// each record in the store's own form (events.AppendRecord, with its
// checksum), then the replicated files (the shares). Raft keeps its own log short by taking one every
// SnapshotThreshold entries; the node's log loses nothing by it.
const snapshotMagic = "metanode-raft-log-v1\n"

// restoreBatch is how many records a restore appends per transaction.
const restoreBatch = 4096

type logSnapshot struct {
	store         *events.Store
	files         Files
	applied, last uint64
}

func (s *logSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *logSnapshot) write(sink io.Writer) error {
	w := bufio.NewWriterSize(sink, 1<<20)
	head := append([]byte(snapshotMagic), make([]byte, 16)...)
	binary.BigEndian.PutUint64(head[len(snapshotMagic):], s.applied)
	binary.BigEndian.PutUint64(head[len(snapshotMagic)+8:], s.last)
	if _, err := w.Write(head); err != nil {
		return err
	}
	var buf []byte
	if s.last > 0 {
		err := s.store.ScanChunked(1, s.last, func(rec events.Record) error {
			buf = events.AppendRecord(binary.BigEndian.AppendUint32(buf[:0], 0), rec.Seq, rec.Kind, rec.Body)
			binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
			_, err := w.Write(buf)
			return err
		})
		if err != nil {
			return fmt.Errorf("snapshot of the log: %w", err)
		}
	}
	if err := writeFiles(w, s.files); err != nil {
		return fmt.Errorf("snapshot of the files: %w", err)
	}
	return w.Flush()
}

func (s *logSnapshot) Release() {}

// restoreLog appends to store the records of a snapshot it lacks. The
// record at the log's own end must be the snapshot's: a log that differs
// from the cluster's is refused, never patched.
func restoreLog(store *events.Store, files Files, r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	if err := restoreRecords(store, br); err != nil {
		return err
	}
	return readFiles(br, files)
}

func restoreRecords(store *events.Store, br *bufio.Reader) error {
	head := make([]byte, len(snapshotMagic)+16)
	if _, err := io.ReadFull(br, head); err != nil {
		return fmt.Errorf("snapshot header: %w", err)
	}
	if string(head[:len(snapshotMagic)]) != snapshotMagic {
		return errors.New("snapshot: not a metanode log snapshot")
	}
	applied := binary.BigEndian.Uint64(head[len(snapshotMagic):])
	last := binary.BigEndian.Uint64(head[len(snapshotMagic)+8:])
	have := store.LastSeq()
	if last <= have {
		// the log holds it all already (a restart restores its own latest
		// snapshot): check the snapshot's last record is the log's
		return checkRecordAt(store, br, last)
	}
	var ownLast []byte
	if have > 0 {
		if err := store.Scan(have, have, func(rec events.Record) error {
			ownLast = events.AppendRecord(nil, rec.Seq, rec.Kind, rec.Body)
			return nil
		}); err != nil {
			return err
		}
	}
	batch := make([]events.Encoded, 0, restoreBatch)
	next := have + 1
	flush := func(index uint64) error {
		if len(batch) == 0 {
			return nil
		}
		first, err := store.AppendReplicated(index, batch)
		if err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
		if first != next-uint64(len(batch)) {
			return fmt.Errorf("restore snapshot: appended at seq %d, want %d", first, next-uint64(len(batch)))
		}
		batch = batch[:0]
		return nil
	}
	for seq := uint64(1); seq <= last; seq++ {
		raw, err := readFrame(br)
		if err != nil {
			return fmt.Errorf("snapshot record %d: %w", seq, err)
		}
		rec, err := events.ParseRecord(raw)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if rec.Seq != seq {
			return fmt.Errorf("snapshot: record %d holds seq %d", seq, rec.Seq)
		}
		switch {
		case seq < have:
			continue
		case seq == have:
			if !bytes.Equal(raw, ownLast) {
				return fmt.Errorf("snapshot: seq %d differs from this replica's log: refusing to mix logs", seq)
			}
			continue
		}
		batch = append(batch, events.Encoded{Kind: rec.Kind, Body: bytes.Clone(rec.Body)})
		next++
		if len(batch) == restoreBatch && seq < last {
			if err := flush(0); err != nil {
				return err
			}
		}
	}
	return flush(applied)
}

func checkRecordAt(store *events.Store, br *bufio.Reader, last uint64) error {
	if last == 0 {
		return nil
	}
	var own []byte
	if err := store.Scan(last, last, func(rec events.Record) error {
		own = events.AppendRecord(nil, rec.Seq, rec.Kind, rec.Body)
		return nil
	}); err != nil {
		return err
	}
	for seq := uint64(1); seq <= last; seq++ {
		raw, err := readFrame(br)
		if err != nil {
			return fmt.Errorf("snapshot record %d: %w", seq, err)
		}
		if seq == last && !bytes.Equal(raw, own) {
			return fmt.Errorf("snapshot: seq %d differs from this replica's log: refusing to mix logs", seq)
		}
	}
	return nil
}

func readFrame(br *bufio.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(br, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > events.MaxRecordBody+64 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	raw := make([]byte, n)
	_, err := io.ReadFull(br, raw)
	return raw, err
}

// writeFiles appends the replicated files (those still there) to a
// snapshot.
func writeFiles(w io.Writer, files Files) error {
	var names []string
	if files != nil {
		var err error
		if names, err = files.List(); err != nil {
			return err
		}
	}
	var datas [][]byte
	var kept []string
	for _, name := range names {
		data, err := files.Get(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // erased meanwhile
		}
		if err != nil {
			return err
		}
		kept, datas = append(kept, name), append(datas, data)
	}
	buf := binary.BigEndian.AppendUint32(nil, uint32(len(kept)))
	for i, name := range kept {
		entry, err := encodeFile(name, datas[i])
		if err != nil {
			return err
		}
		buf = append(buf, entry[1:]...) // without the entry's version byte
	}
	_, err := w.Write(buf)
	return err
}

// readFiles writes a snapshot's files.
func readFiles(br *bufio.Reader, files Files) error {
	var count [4]byte
	if _, err := io.ReadFull(br, count[:]); err != nil {
		return fmt.Errorf("snapshot files: %w", err)
	}
	for range binary.BigEndian.Uint32(count[:]) {
		var n [1]byte
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return fmt.Errorf("snapshot file: %w", err)
		}
		name := make([]byte, n[0])
		var size [4]byte
		if _, err := io.ReadFull(br, name); err != nil {
			return fmt.Errorf("snapshot file: %w", err)
		}
		if _, err := io.ReadFull(br, size[:]); err != nil {
			return fmt.Errorf("snapshot file: %w", err)
		}
		if binary.BigEndian.Uint32(size[:]) > maxFile {
			return fmt.Errorf("snapshot file %q: too large", name)
		}
		data := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(br, data); err != nil {
			return fmt.Errorf("snapshot file: %w", err)
		}
		if files == nil {
			return errors.New("snapshot holds files, and this replica keeps none")
		}
		if err := files.Put(string(name), data); err != nil {
			return err
		}
	}
	return nil
}
