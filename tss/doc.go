// Package tss holds everything about the threshold key: the share proof
// every ping and proposal carries (PROTOCOL.md section 2), and, with the
// tss-lib integration, the keygen, signing and resharing sessions, the
// encrypted share store and the pre-parameter pool.
package tss
