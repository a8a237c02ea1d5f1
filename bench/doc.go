// Package bench measures metanode's hot paths side by side with their
// references, in one run on one machine, for `metanode bench` and
// `go test -bench`. A figure alone says little; the reference it is set
// against (raw bbolt, bare msgpack, raw tss-lib) says what it costs.
package bench
