package tss

import (
	"context"
	"fmt"
	"io"
	"math/big"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
)

// Signing is one party's part in a signing session.
type Signing struct {
	Session   events.Hash // the session nonce: H(r || m0 || set ids)
	Self      events.PeerID
	Signers   []Party // the threshold set
	Threshold int     // t
	Key       keygen.LocalPartySaveData
	Digest    events.Hash // m0: what is signed
	// Rand, if set, replaces crypto/rand for tss-lib (a seeded simulation).
	Rand io.Reader
}

// Run signs. It ends with the signature, or with culprits on failure or
// when ctx's deadline passes.
func (s Signing) Run(ctx context.Context, inbox <-chan Incoming, send func(Outgoing) error) Result[*common.SignatureData] {
	return Run(ctx, s.NewSession(), inbox, send)
}

// NewSession sets up the signing party, to be driven step by step.
func (s Signing) NewSession() *Session[*common.SignatureData] {
	fail := func(err error) *Session[*common.SignatureData] {
		return FailedSession[*common.SignatureData](s.Session, fmt.Errorf("signing session %s: %w", s.Session.String()[:12], err))
	}
	if len(s.Signers) != s.Threshold+1 {
		return fail(fmt.Errorf("%d signers for threshold %d: need t+1", len(s.Signers), s.Threshold))
	}
	ids, err := newPartyIDs(s.Signers)
	if err != nil {
		return fail(err)
	}
	self, ok := ids.byPeer[s.Self]
	if !ok {
		return fail(fmt.Errorf("%s is not a signer", s.Self.Short()))
	}
	params := tsslib.NewParameters(tsslib.S256(), tsslib.NewPeerContext(ids.sorted), self, len(s.Signers), s.Threshold)
	params.SetSessionNonce(new(big.Int).SetBytes(s.Session[:]))
	if s.Rand != nil {
		params.SetRand(s.Rand)
		params.SetPartialKeyRand(s.Rand)
	}
	out := make(chan tsslib.Message, 64*len(s.Signers)*len(s.Signers))
	end := make(chan *common.SignatureData, 1)
	party := signing.NewLocalParty(new(big.Int).SetBytes(s.Digest[:]), params, s.Key, out, end, len(s.Digest))
	return newSession(s.Session, party, out, end, singleRouter{ids: ids, self: s.Self})
}
