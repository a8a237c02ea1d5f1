// Package node is the imperative shell around the deterministic core:
// every input (a clock tick, a received message) is first appended to the
// log, then folded into the projections, and then the duties the state
// calls for are executed, each of which is logged before it takes effect.
package node
