// Package net is how protocol messages travel: the signed envelope of
// PROTOCOL.md section 1 and its validation, and transports that carry
// envelopes between nodes (an in-memory bus now; the libp2p gossipsub host
// follows with the networking work).
package net
