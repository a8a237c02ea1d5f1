// Package net is how protocol messages travel: the signed envelope of
// PROTOCOL.md section 1 and its validation, and the transports that carry
// envelopes between nodes: an in-memory bus for nodes in one process, and
// Host, the libp2p transport (gossipsub with a topic per message type,
// direct streams for point-to-point tss messages, static peers kept
// connected).
package net
