package events

import "encoding/binary"

// The on-disk layout of a log directory, in one place.
//
//	DIR/events.db                    bbolt file
//	  bucket "meta"
//	    "format"  -> "metanode-events"     marks the file as ours
//	    "version" -> uint32 big endian     StoreVersion
//	  bucket "events"
//	    seq (uint64 big endian) -> record  see record.go
//
// Seqs start at 1 and have no gaps; big-endian keys make bbolt's key order
// the seq order, so a cursor walks the log in order.
const (
	// FileName is the event log's file inside a log directory.
	FileName = "events.db"
	// StoreVersion is the layout version written to the meta bucket.
	StoreVersion = 1
	formatMarker = "metanode-events"
)

var (
	bucketMeta   = []byte("meta")
	bucketEvents = []byte("events")
	keyFormat    = []byte("format")
	keyVersion   = []byte("version")
	// keyRaftApplied: the raft index of the last entry appended (HA
	// replicas only), written in the same transaction as its events
	keyRaftApplied = []byte("raft_applied")
)

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// AppendSeqKey appends the bbolt key of seq to dst.
func AppendSeqKey(dst []byte, seq uint64) []byte { return binary.BigEndian.AppendUint64(dst, seq) }
