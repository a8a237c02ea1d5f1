package events

import "errors"

// Sentinel errors of the events package. Callers match them with errors.Is;
// the wrapped message says which file, seq or field.
var (
	// ErrUnknownKind: the record names an event kind this version does not know.
	ErrUnknownKind = errors.New("unknown event kind")
	// ErrCorrupt: a record or the file around it fails a check.
	ErrCorrupt = errors.New("corrupt event log")
	// ErrForeign: the file is not a metanode event log.
	ErrForeign = errors.New("not a metanode event log")
	// ErrNoLog: the directory holds no event log.
	ErrNoLog = errors.New("no event log")
	// ErrLocked: another process holds the log open for writing.
	ErrLocked = errors.New("event log is in use by another process")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("event log closed")
	// ErrReadOnly: an append on a store opened read-only.
	ErrReadOnly = errors.New("event log opened read-only")
	// ErrNotLeader: an HA replica that does not lead (or lost the lead
	// while appending) cannot append; whether the events were committed
	// is decided by raft and shows up in the replica's log.
	ErrNotLeader = errors.New("this replica does not lead")
)
