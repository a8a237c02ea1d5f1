// Package sim runs many metanode nodes in one process on a virtual clock:
// each a real node.Node with its own event log, joined by an in-memory
// network with seeded delay, loss and partitions, while the simulator
// plays the outside world (stake chain, deposits, swap intents, tx
// confirmations) and byzantine peers. A run is reproducible: the same
// configuration and seed give the same logs, byte for byte.
package sim
