// Package testkeys holds the committed TEST KEYS and the tools that make
// them: for committees of 5 (t=2), 7 (t=4) and 10 (t=6), each party's
// tss-lib save data (Paillier secrets and pre-parameters included) from a
// real keygen among Peer(0..n-1). Every share here is public: they serve
// tests, the simulator, the benchmarks and the devnet, which starts on
// them and says so. No production package imports this one (the
// dependency test in this package checks it). `make testkeys` writes
// them anew.
package testkeys
