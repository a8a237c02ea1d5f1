// Package cli is metanode's command line: an urfave/cli/v2 app whose
// commands are thin shells over the packages that do the work. Every flag
// is mirrored by a METANODE_* environment variable.
package cli
