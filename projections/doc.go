// Package projections folds the event log into state: pure functions
// (state, event) -> state, and later the pure duty function that says what
// a node must do now.
//
// Everything here is deterministic, so a replay of a log reproduces every
// state byte for byte: no wall clock (time is the time of tick events), no
// randomness, no goroutines, no I/O, and no output that depends on a Go
// map's iteration order. A map may answer membership; anything encoded or
// hashed is a sorted slice.
package projections
