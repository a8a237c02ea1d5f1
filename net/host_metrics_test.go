package net

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// A replica that leads again opens a new host on the same registry: the
// peers gauge follows the new host, not the closed one.
func TestPeersGaugeFollowsTheNewestHost(t *testing.T) {
	reg := prometheus.NewRegistry()
	newHostMetrics(reg, func() float64 { return 3 })
	if got := gatherPeers(t, reg); got != 3 {
		t.Fatalf("peers %v, want 3", got)
	}
	newHostMetrics(reg, func() float64 { return 5 })
	if got := gatherPeers(t, reg); got != 5 {
		t.Fatalf("after a second host: peers %v, want 5 (the first host's gauge is stale)", got)
	}
}

func gatherPeers(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "metanode_p2p_peers_connected" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no peers gauge")
	return 0
}
