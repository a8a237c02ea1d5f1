package tss

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/metanode/metanode/events"
)

// BenchmarkMessageSizes runs keygen (n=10, t=6, the committed fixtures'
// pre-parameters), signing by 7 of the fixtures' 10/6 key and a
// resharing of that key from 7 old parties to a new committee of 10,
// and reports the largest payload of each message type against its
// validation bound (tss/validate_bounds.md): a few minutes, once; run
// it with -v, or go test keeps only its first lines.
func BenchmarkMessageSizes(b *testing.B) {
	keys, err := loadTestKeys(10, 6)
	if err != nil {
		b.Fatal(err)
	}
	peers := make([]events.PeerID, 10)
	for i := range peers {
		peers[i] = testKeyPeer(i)
	}
	for range b.N {
		var mu sync.Mutex
		largest := map[string]int{}
		measure := func(_ events.PeerID, o *Outgoing) bool {
			var wire anypb.Any
			if proto.Unmarshal(o.Payload, &wire) == nil {
				mu.Lock()
				name := string(wire.MessageName().Name())
				largest[name] = max(largest[name], len(o.Payload))
				mu.Unlock()
			}
			return true
		}
		run := func(n int, party func(i int, net *MemoryNetwork) events.Outcome) {
			net := NewMemoryNetwork(peers)
			net.Tamper = measure
			var wg sync.WaitGroup
			outcomes := make([]events.Outcome, n)
			for i := range n {
				wg.Go(func() { outcomes[i] = party(i, net) })
			}
			wg.Wait()
			for i, o := range outcomes {
				if o != events.OutcomeSuccess {
					b.Fatalf("party %d: %s", i, o)
				}
			}
		}
		ctx := context.Background()
		run(10, func(i int, net *MemoryNetwork) events.Outcome {
			k := Keygen{Session: fuzzHash("sizes keygen"), Self: peers[i], Committee: peers, Threshold: 6, PreParams: keys[i].LocalPreParams}
			return k.Run(ctx, net.Inbox(peers[i]), net.Sender(peers[i])).Outcome
		})
		var signers []Party
		for i := range 7 {
			signers = append(signers, Party{Peer: peers[i], Key: keys[i].ShareID})
		}
		run(7, func(i int, net *MemoryNetwork) events.Outcome {
			s := Signing{Session: fuzzHash("sizes signing"), Self: peers[i], Signers: signers, Threshold: 6, Key: keys[i], Digest: fuzzHash("sizes doc")}
			return s.Run(ctx, net.Inbox(peers[i]), net.Sender(peers[i])).Outcome
		})
		run(17, func(i int, net *MemoryNetwork) events.Outcome {
			r := Resharing{Session: fuzzHash("sizes resharing"), Old: signers, New: peers, OldThreshold: 6, NewThreshold: 6}
			if i < 7 {
				r.Self, r.Key = peers[i], cloneKey(&keys[i]) // an old party zeroes its share
				return r.Run(ctx, false, net.SideInbox(peers[i], SideOld), net.Sender(peers[i])).Outcome
			}
			j := i - 7
			pre := keys[(j+3)%10].LocalPreParams
			r.Self, r.PreParams = peers[j], &pre
			return r.Run(ctx, true, net.SideInbox(peers[j], SideNew), net.Sender(peers[j])).Outcome
		})
		for _, name := range slices.Sorted(maps.Keys(largest)) {
			bound := 0
			for full, r := range rules {
				if string(full.Name()) == name {
					bound = r.maxWire(10)
				}
			}
			b.Logf("%-20s %7d bytes (bound %7d for 10 parties)", name, largest[name], bound)
		}
	}
}
