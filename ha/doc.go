// Package ha replicates a node's event log between the replicas of one
// node with hashicorp/raft: the leader proposes every input event, each
// replica's FSM appends the committed entries to its own event store, and
// only the leader runs the node's duties (DESIGN.md, point 5).
//
// The event store is the FSM's state and is durable on its own: it keeps
// the raft index of the last entry it appended in the same transaction as
// the entry's events, so an entry raft hands over again after a restart is
// skipped, and a snapshot is the log itself (all its records), which a
// replica restored from nothing installs to catch up.
package ha
