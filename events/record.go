package events

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// A record is one event as stored: a fixed header and the msgpack body.
//
//	offset size field
//	0      1    format version (RecordVersion)
//	1      8    seq, big endian (equal to the record's key)
//	9      2    kind, big endian
//	11     4    CRC-32C (Castagnoli) of bytes 0..11 and the body
//	15     -    body: the event in the canonical msgpack form
//
// The checksum covers the seq, so a record copied under another key fails
// verification as surely as a flipped bit does.
const (
	RecordVersion    = 1
	recordHeaderSize = 15
	// MaxRecordBody bounds one event's body; larger appends are refused.
	MaxRecordBody = 16 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is a decoded record header with its body still encoded.
type Record struct {
	Seq  uint64
	Kind Kind
	Body []byte
}

// AppendRecord appends the record of (seq, kind, body) to dst.
func AppendRecord(dst []byte, seq uint64, kind Kind, body []byte) []byte {
	start := len(dst)
	dst = append(dst, RecordVersion)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	dst = binary.BigEndian.AppendUint16(dst, uint16(kind))
	sum := crc32.Update(crc32.Checksum(dst[start:start+11], castagnoli), castagnoli, body)
	dst = binary.BigEndian.AppendUint32(dst, sum)
	return append(dst, body...)
}

// ParseRecord checks a stored record and splits it. The returned Body
// aliases b. It checks the version, the checksum, and that the kind is one
// this version knows (ErrUnknownKind otherwise); it does not decode the body.
func ParseRecord(b []byte) (Record, error) {
	if len(b) < recordHeaderSize {
		return Record{}, fmt.Errorf("%w: record of %d bytes is shorter than its %d-byte header", ErrCorrupt, len(b), recordHeaderSize)
	}
	if b[0] != RecordVersion {
		return Record{}, fmt.Errorf("%w: record format version %d (this metanode reads %d)", ErrCorrupt, b[0], RecordVersion)
	}
	rec := Record{
		Seq:  binary.BigEndian.Uint64(b[1:9]),
		Kind: Kind(binary.BigEndian.Uint16(b[9:11])),
		Body: b[recordHeaderSize:],
	}
	stored := binary.BigEndian.Uint32(b[11:15])
	computed := crc32.Update(crc32.Checksum(b[:11], castagnoli), castagnoli, rec.Body)
	if stored != computed {
		return Record{}, fmt.Errorf("%w: seq %d: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, rec.Seq, stored, computed)
	}
	if !rec.Kind.Known() {
		return Record{}, fmt.Errorf("seq %d: %w: %d (written by a newer metanode?)", rec.Seq, ErrUnknownKind, uint16(rec.Kind))
	}
	return rec, nil
}

// DecodeRecord parses a record and decodes its event.
func DecodeRecord(b []byte) (Record, Event, error) {
	rec, err := ParseRecord(b)
	if err != nil {
		return rec, nil, err
	}
	ev, err := DecodeEvent(rec.Kind, rec.Body)
	if err != nil {
		return rec, nil, fmt.Errorf("%w: seq %d: %v", ErrCorrupt, rec.Seq, err)
	}
	return rec, ev, nil
}
