package bench

import "testing"

// TestPingsBenchmarkRuns keeps the ping benchmark working (small load).
func TestPingsBenchmarkRuns(t *testing.T) {
	res, err := Pings(t.TempDir(), 50, 3)
	if err != nil {
		t.Fatal(err)
	}
	if res.Pings == 0 || res.CPUSeconds <= 0 {
		t.Fatalf("nothing measured: %+v", res)
	}
}
