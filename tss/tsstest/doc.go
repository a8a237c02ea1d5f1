// Package tsstest holds byzantine helpers for tests and the simulator:
// what a faulty party does to its tss-lib messages. No production package
// imports it (tss/testkeys's dependency test checks it).
package tsstest
