package devnet

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/metanode/metanode/bench"
	"github.com/metanode/metanode/tss/testkeys"
)

// RoundResult is `metanode bench round`: signing rounds over real libp2p
// between real processes on loopback, from the checksums completing
// (the session's start) to a verified signature (its finish), beside the
// in-process floor of raw tss-lib for the same signers, in one run.
type RoundResult struct {
	Nodes          int     `json:"nodes"`
	Signers        int     `json:"signers"`
	Sessions       int     `json:"sessions"` // successful signing sessions measured (every signer's)
	NetworkSeconds float64 `json:"network_seconds"`
	FloorSeconds   float64 `json:"floor_seconds"`
	Ratio          float64 `json:"ratio"`
	Goal           float64 `json:"goal_ratio"`
	// Memory: resident set of each node process, idle (peers listed,
	// before any round signed) and at its peak over the run.
	RSSIdleMB []float64 `json:"rss_idle_mb"`
	RSSPeakMB []float64 `json:"rss_peak_mb"`
}

// BenchRound runs a 5-node devnet until rounds rounds signed, then stops it.
func BenchRound(ctx context.Context, binary, dir string, basePort, rounds int, progress func(string)) (RoundResult, error) {
	res := RoundResult{Nodes: 5, Signers: 3, Goal: 1.3}
	d, err := Setup(Config{Nodes: 5, Dir: dir, Binary: binary, BasePort: basePort, DepositEvery: 5 * time.Second})
	if err != nil {
		return res, err
	}
	if err := d.Start(ctx); err != nil {
		_ = d.Stop()
		return res, err
	}
	defer d.Stop()
	progress("waiting for every node to list its peers")
	if err := d.waitUntil(ctx, 3*time.Minute, func() bool {
		for i := range d.Nodes {
			if st, err := d.Status(i); err != nil || st.PeersListed < len(d.Nodes) {
				return false
			}
		}
		return true
	}); err != nil {
		return res, fmt.Errorf("peers: %w", err)
	}
	for i := range d.Nodes {
		res.RSSIdleMB = append(res.RSSIdleMB, procMB(d.Nodes[i].cmd.Process.Pid, "VmRSS"))
	}
	progress(fmt.Sprintf("waiting for %d signed rounds", rounds))
	if err := d.waitUntil(ctx, time.Duration(rounds+3)*2*time.Minute, func() bool { return d.Chain.Stats().Confirmed >= rounds }); err != nil {
		return res, fmt.Errorf("rounds: %w", err)
	}
	var sum float64
	for i := range d.Nodes {
		s, c, err := d.signingSeconds(i)
		if err != nil {
			return res, err
		}
		sum += s
		res.Sessions += c
		res.RSSPeakMB = append(res.RSSPeakMB, procMB(d.Nodes[i].cmd.Process.Pid, "VmHWM"))
	}
	if res.Sessions == 0 {
		return res, fmt.Errorf("no signing session measured")
	}
	res.NetworkSeconds = sum / float64(res.Sessions)
	_ = d.Stop()
	progress("the in-process floor: raw tss-lib, 3 signers")
	floor, err := bench.SignFloor(testkeys.FS, 5, 2, 3)
	if err != nil {
		return res, err
	}
	res.FloorSeconds = floor.Seconds()
	res.Ratio = res.NetworkSeconds / res.FloorSeconds
	return res, nil
}

func (d *Devnet) waitUntil(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %v", within)
		}
		for i := range d.Nodes {
			if exited, err := d.Exited(i); exited {
				return fmt.Errorf("node-%d exited (%v): %s", i, err, d.LogTail(i, 2000))
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil
}

// signingSeconds reads node i's successful signing sessions' total
// duration and count from its metrics.
func (d *Devnet) signingSeconds(i int) (float64, int, error) {
	resp, err := apiClient.Get("http://" + d.Nodes[i].Metrics + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("node-%d metrics: %s", i, resp.Status)
	}
	var sum float64
	var count int
	const series = `metanode_tss_session_seconds_%s{kind="signing",outcome="success"} `
	scan := bufio.NewScanner(resp.Body)
	scan.Buffer(nil, 1<<20)
	for scan.Scan() {
		line := scan.Text()
		if v, ok := strings.CutPrefix(line, fmt.Sprintf(series, "sum")); ok {
			sum, _ = strconv.ParseFloat(v, 64)
		}
		if v, ok := strings.CutPrefix(line, fmt.Sprintf(series, "count")); ok {
			count, _ = strconv.Atoi(v)
		}
	}
	return sum, count, scan.Err()
}

// procMB reads a memory figure (VmRSS, VmHWM) of a process, in MiB.
func procMB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}
