package tss

import (
	"crypto/elliptic"

	tsslib "github.com/bnb-chain/tss-lib/v3/tss"
)

func curve() elliptic.Curve { return tsslib.S256() }
