package sim_test

import (
	"testing"
	"time"

	"github.com/metanode/metanode/sim"
)

// BenchmarkSim20Nodes: 20 nodes, t=13, two byzantine, 10 virtual minutes.
// Reports virtual seconds per wall second.
func BenchmarkSim20Nodes(b *testing.B) {
	for range b.N {
		start := time.Now()
		_, err := sim.Run(sim.Config{Nodes: 20, Threshold: 13, Seed: 1, Duration: 10 * time.Minute, Dir: b.TempDir(),
			Faults: []sim.Fault{{Behaviour: sim.Equivocate, Node: 3}, {Behaviour: sim.WrongChecksum, Node: 0}}})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric((10*time.Minute).Seconds()/time.Since(start).Seconds(), "virtual-s/wall-s")
	}
}
