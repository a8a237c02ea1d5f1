package projections_test

import (
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// BenchmarkApplyPings: the full node state folding received pings of 20
// committee members with real share proofs (verified once per peer and
// epoch), ticks between. Reports pings/s.
func BenchmarkApplyPings(b *testing.B) {
	const peers = 20
	params := eventstest.Samples()[0].(*events.Genesis).Params
	key := &events.KeyPublished{KeyID: eventstest.Hash("bench key"), Threshold: 13}
	shares := make([][]byte, peers)
	for i := range peers {
		shares[i] = testShare(i)
		point, _ := tss.SharePoint(shares[i])
		key.SharePoints = append(key.SharePoints, events.SharePoint{Peer: eventstest.Peer(i), Point: point})
	}
	// Ten minutes of pings every 3 s from each peer.
	var evs []events.Event
	proofs := map[[2]int64][]byte{}
	for step := range 200 {
		now := eventstest.Epoch.Add(time.Duration(step) * 3 * time.Second)
		evs = append(evs, &events.Tick{Time: now})
		for i := range peers {
			bucket := projections.PingProofBucket(now, params)
			proof, ok := proofs[[2]int64{int64(i), bucket}]
			if !ok {
				proof, _ = tss.ProveShare(shares[i], tss.ProofContext{Purpose: tss.ProofForPing, KeyID: key.KeyID, Peer: eventstest.Peer(i), Bucket: bucket})
				proofs[[2]int64{int64(i), bucket}] = proof
			}
			body, _ := events.Marshal(nil, &events.Ping{PeerID: eventstest.Peer(i), Seq: uint64(step + 1), Time: now, StakeTx: "stake", KeyID: key.KeyID, TSSProof: proof})
			evs = append(evs, &events.PingReceived{Msg: eventstest.Signed(events.TypePing, i, body)})
		}
	}
	b.ResetTimer()
	pings := 0
	for range b.N {
		tss.ForgetVerified() // one node's cost: no proof seen before
		state := projections.NewState()
		state.Apply(1, eventstest.Samples()[0])
		state.Apply(2, key)
		for i, ev := range evs {
			state.Apply(uint64(i+3), ev)
		}
		pings += len(evs) - 200
	}
	b.ReportMetric(float64(pings)/b.Elapsed().Seconds(), "pings/s")
}
