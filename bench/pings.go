package bench

import (
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/net"
	"github.com/metanode/metanode/node"
)

// PingsResult is the steady-state cost of a large peer list: the CPU one
// node spends validating, admitting and durably logging the pings of
// Peers admitted peers at one ping per ping interval each, with a tick
// every second, measured over Seconds of load (driven as fast as the
// node takes it) and divided by those seconds.
type PingsResult struct {
	Peers          int     `json:"peers"`
	Seconds        int     `json:"seconds"`
	Pings          int     `json:"pings"`
	PingsPerSec    float64 `json:"pings_per_sec"`     // the load: peers / ping interval
	CPUSeconds     float64 `json:"cpu_seconds"`       // user+system of the process over the load
	CPUShareOfCore float64 `json:"cpu_share_of_core"` // cpu_seconds / seconds
	MicrosPerPing  float64 `json:"micros_per_ping"`
	WallSeconds    float64 `json:"wall_seconds"` // how long the load took to drive
	Goal           float64 `json:"goal_cpu_share_of_core"`
}

// pingBatch is how long a daemon's receive loop gathers pings into one
// append at this load (its batches are what arrived since the last).
const pingBatch = 100 * time.Millisecond

// Pings measures the ping path of one node under dir.
func Pings(dir string, peers, seconds int) (PingsResult, error) {
	res := PingsResult{Peers: peers, Seconds: seconds, Goal: 0.05}
	params := events.DefaultParams(5, 2)
	params.Network = "bench"
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	params.KeygenUntil = events.TimeOf(start)
	keys := make([]crypto.PrivKey, peers)
	for i := range keys {
		seed := sha512.Sum512_256(binary.BigEndian.AppendUint64([]byte("bench-peer"), uint64(i)))
		k, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(seed[:]))
		if err != nil {
			return res, err
		}
		keys[i] = k
	}
	n, err := node.Open(filepath.Join(dir, "node"), node.Config{Params: params, Chain: instantStakes{}, StakeTx: "own"})
	if err != nil {
		return res, err
	}
	defer n.Close()
	seq := make([]uint64, peers)
	now := start
	ping := func(i int) (events.Signed, error) {
		seq[i]++
		id, _ := peer.IDFromPrivateKey(keys[i])
		body, err := events.Marshal(nil, &events.Ping{PeerID: events.PeerID(id), Seq: seq[i], Time: events.TimeOf(now), StakeTx: fmt.Sprintf("stake-%d", i)})
		if err != nil {
			return events.Signed{}, err
		}
		return net.Sign(keys[i], events.TypePing, body)
	}
	// Admit every peer first: admission checks 16 strangers at a time.
	for round := 0; n.Status().PeersListed < peers; round++ {
		if round > 10*peers {
			return res, fmt.Errorf("bench pings: only %d of %d peers listed", n.Status().PeersListed, peers)
		}
		now = now.Add(time.Second)
		var msgs []events.Signed
		for i := range peers {
			m, err := ping(i)
			if err != nil {
				return res, err
			}
			msgs = append(msgs, m)
		}
		n.Receive(msgs...)
		if err := n.Tick(now); err != nil {
			return res, err
		}
	}
	// The load: each peer pings once per interval, spread evenly.
	interval := params.PingInterval
	res.PingsPerSec = float64(peers) / interval.Seconds()
	batchesPerSec := int(time.Second / pingBatch)
	perBatch := float64(peers) * pingBatch.Seconds() / interval.Seconds()
	// sign the pings ahead: the senders' cost is not the node's
	loadStart := now
	var batches [][]events.Signed
	next := 0
	carry := 0.0
	for s := range seconds {
		for b := range batchesPerSec {
			now = loadStart.Add(time.Duration(s)*time.Second + time.Duration(b)*pingBatch)
			carry += perBatch
			var batch []events.Signed
			for ; carry >= 1; carry-- {
				m, err := ping(next % peers)
				if err != nil {
					return res, err
				}
				batch = append(batch, m)
				next++
			}
			batches = append(batches, batch)
		}
	}
	cpu0, wall0 := cpuTime(), time.Now()
	for i, batch := range batches {
		if i%batchesPerSec == 0 {
			if err := n.Tick(loadStart.Add(time.Duration(i/batchesPerSec) * time.Second)); err != nil {
				return res, err
			}
		}
		n.Receive(batch...)
		res.Pings += len(batch)
	}
	res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	res.WallSeconds = time.Since(wall0).Seconds()
	res.CPUShareOfCore = res.CPUSeconds / float64(seconds)
	res.MicrosPerPing = res.CPUSeconds / float64(res.Pings) * 1e6
	if listed := n.Status().PeersListed; listed < peers {
		return res, fmt.Errorf("bench pings: %d of %d peers still listed after the load", listed, peers)
	}
	return res, nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// instantStakes answers every stake check at once: valid, old enough.
type instantStakes struct{}

func (instantStakes) CheckStake(p events.PeerID, tx string, answer func(events.StakeChecked)) {
	answer(events.StakeChecked{Peer: p, StakeTx: tx, Found: true, Confirmed: true, Amount: 100, BoundPeer: p,
		ConfirmedAt: events.TimeOf(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))})
}
