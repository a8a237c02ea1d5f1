// Package replay reads a log and folds it through projections: to a seq
// or a tick time, printing a deterministic state hash. The audit and
// duty-verification tools of later issues are folds of the same kind.
// Diff compares two replicas' logs record by record without folding them.
package replay
