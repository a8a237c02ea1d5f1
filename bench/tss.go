package bench

import (
	"context"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/big"
	"sync"
	"time"

	"github.com/bnb-chain/tss-lib/v3/common"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/resharing"
	"github.com/bnb-chain/tss-lib/v3/ecdsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

// TSSPair is one tss operation measured through metanode's session runner
// and as raw tss-lib in one process with in-memory routing (the floor).
type TSSPair struct {
	Name          string  `json:"name"`
	RunnerSeconds float64 `json:"runner_seconds"`
	FloorSeconds  float64 `json:"floor_seconds"`
	Ratio         float64 `json:"ratio"` // runner / floor; goal <= 1.10
}

// TSS measures signing with 3, 5 and 7 signers, keygen n=5 and
// resharing 5->5, each pair in turn, on the test keys of testKeys (the
// committed ones: tss/testkeys.FS); each side's best of runs.
func TSS(testKeys fs.FS, runs int, progress func(TSSPair)) ([]TSSPair, error) {
	n5, err := testkeys.Load(testKeys, 5, 2)
	if err != nil {
		return nil, err
	}
	n7, err := testkeys.Load(testKeys, 7, 4)
	if err != nil {
		return nil, err
	}
	n10, err := testkeys.Load(testKeys, 10, 6)
	if err != nil {
		return nil, err
	}
	type job struct {
		name   string
		runner func() error
		floor  func() error
	}
	signJob := func(name string, keys []keygen.LocalPartySaveData, signers, t int, peers func(int) events.PeerID) job {
		return job{name,
			func() error { return runnerSign(keys[:signers], t, peers) },
			func() error { return floorSign(keys[:signers], t) }}
	}
	jobs := []job{
		signJob("sign 3 signers", n5, 3, 2, testkeys.Peer),
		signJob("sign 5 signers", n7, 5, 4, testkeys.Peer),
		signJob("sign 7 signers", n10, 7, 6, testkeys.Peer),
		{"keygen n=5", func() error { return runnerKeygen(n5) }, func() error { return floorKeygen(n5) }},
		// tss-lib's resharing consumes the old parties' key data: each
		// side gets its own copy.
		{"reshare 5->5", func() error { return runnerReshare(cloneKeys(n5)) }, func() error { return floorReshare(cloneKeys(n5)) }},
	}
	var out []TSSPair
	for _, j := range jobs {
		// Floor and runner alternate, and each side keeps its best run: a
		// multi-second run on two cores swings with any other load.
		var floor, runner time.Duration
		for range max(1, runs) {
			start := time.Now()
			if err := j.floor(); err != nil {
				return out, fmt.Errorf("%s (floor): %w", j.name, err)
			}
			if d := time.Since(start); floor == 0 || d < floor {
				floor = d
			}
			start = time.Now()
			if err := j.runner(); err != nil {
				return out, fmt.Errorf("%s (runner): %w", j.name, err)
			}
			if d := time.Since(start); runner == 0 || d < runner {
				runner = d
			}
		}
		pair := TSSPair{Name: j.name, RunnerSeconds: runner.Seconds(), FloorSeconds: floor.Seconds(), Ratio: runner.Seconds() / floor.Seconds()}
		progress(pair)
		out = append(out, pair)
	}
	return out, nil
}

// cloneKeys deep-copies key data (it holds pointers tss-lib mutates).
func cloneKeys(keys []keygen.LocalPartySaveData) []keygen.LocalPartySaveData {
	out := make([]keygen.LocalPartySaveData, len(keys))
	for i := range keys {
		data, err := json.Marshal(keys[i])
		if err != nil {
			panic(err)
		}
		if err := json.Unmarshal(data, &out[i]); err != nil {
			panic(err)
		}
		for _, x := range out[i].BigXj {
			x.SetCurve(tsslib.S256())
		}
		out[i].ECDSAPub.SetCurve(tsslib.S256())
	}
	return out
}

var benchSession = sha512.Sum512_256([]byte("bench session"))
var benchDigest = sha512.Sum512_256([]byte("bench doc"))

func runnerSign(keys []keygen.LocalPartySaveData, t int, peer func(int) events.PeerID) error {
	parties := make([]tss.Party, len(keys))
	peers := make([]events.PeerID, len(keys))
	for i, k := range keys {
		parties[i] = tss.Party{Peer: peer(i), Key: k.ShareID}
		peers[i] = parties[i].Peer
	}
	net := tss.NewMemoryNetwork(peers)
	return runAll(len(keys), func(i int) error {
		s := tss.Signing{Session: benchSession, Self: peers[i], Signers: parties, Threshold: t, Key: keys[i], Digest: benchDigest}
		res := s.Run(context.Background(), net.Inbox(peers[i]), net.Sender(peers[i]))
		return res.Err
	})
}

func runnerKeygen(pre []keygen.LocalPartySaveData) error {
	peers := make([]events.PeerID, len(pre))
	for i := range pre {
		peers[i] = testkeys.Peer(2000 + i)
	}
	net := tss.NewMemoryNetwork(peers)
	return runAll(len(pre), func(i int) error {
		k := tss.Keygen{Session: benchSession, Self: peers[i], Committee: peers, Threshold: 2, PreParams: pre[i].LocalPreParams}
		return k.Run(context.Background(), net.Inbox(peers[i]), net.Sender(peers[i])).Err
	})
}

func runnerReshare(keys []keygen.LocalPartySaveData) error {
	old := make([]tss.Party, 3)
	newPeers := make([]events.PeerID, 5)
	for i := range old {
		old[i] = tss.Party{Peer: testkeys.Peer(3000 + i), Key: keys[i].ShareID}
	}
	for i := range newPeers {
		newPeers[i] = testkeys.Peer(4000 + i)
	}
	all := append([]events.PeerID{}, newPeers...)
	for _, p := range old {
		all = append(all, p.Peer)
	}
	net := tss.NewMemoryNetwork(all)
	return runAll(len(old)+len(newPeers), func(i int) error {
		if i < len(old) {
			key := keys[i]
			r := tss.Resharing{Session: benchSession, Self: old[i].Peer, Old: old, New: newPeers, OldThreshold: 2, NewThreshold: 2, Key: &key}
			return r.Run(context.Background(), false, net.SideInbox(old[i].Peer, tss.SideOld), net.Sender(old[i].Peer)).Err
		}
		j := i - len(old)
		pre := keys[j].LocalPreParams
		r := tss.Resharing{Session: benchSession, Self: newPeers[j], Old: old, New: newPeers, OldThreshold: 2, NewThreshold: 2, PreParams: &pre}
		return r.Run(context.Background(), true, net.SideInbox(newPeers[j], tss.SideNew), net.Sender(newPeers[j])).Err
	})
}

func runAll(n int, fn func(i int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = fn(i) }()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// The floor: raw tss-lib parties in one process, messages serialized and
// handed straight to their recipients, as tss-lib's own tests route them.

type floorParty struct {
	party tsslib.Party
	id    *tsslib.PartyID
}

func floorRoute(parties []floorParty, byKey func(*tsslib.PartyID) *floorParty, out chan tsslib.Message, done func() bool, errs chan *tsslib.Error) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for !done() {
		select {
		case err := <-errs:
			return err
		case msg := <-out:
			payload, routing, err := msg.WireBytes()
			if err != nil {
				return err
			}
			var targets []*floorParty
			if routing.To == nil {
				for i := range parties {
					if parties[i].id.KeyInt().Cmp(routing.From.KeyInt()) != 0 {
						targets = append(targets, &parties[i])
					}
				}
			} else {
				for _, to := range routing.To {
					targets = append(targets, byKey(to))
				}
			}
			for _, p := range targets {
				if p == nil {
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := p.party.UpdateFromBytes(payload, routing.From, routing.IsBroadcast); err != nil {
						errs <- err
					}
				}()
			}
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

func floorSign(keys []keygen.LocalPartySaveData, t int) error {
	var ids tsslib.UnSortedPartyIDs
	for i, k := range keys {
		ids = append(ids, tsslib.NewPartyID(fmt.Sprint(i), fmt.Sprint(i), k.ShareID))
	}
	sorted := tsslib.SortPartyIDs(ids)
	ctx := tsslib.NewPeerContext(sorted)
	out := make(chan tsslib.Message, 64*len(keys)*len(keys))
	end := make(chan *common.SignatureData, len(keys))
	errs := make(chan *tsslib.Error, len(keys))
	parties := make([]floorParty, len(keys))
	for i, id := range sorted {
		var key keygen.LocalPartySaveData
		for _, k := range keys {
			if k.ShareID.Cmp(id.KeyInt()) == 0 {
				key = k
			}
		}
		params := tsslib.NewParameters(tsslib.S256(), ctx, id, len(keys), t)
		params.SetSessionNonce(new(big.Int).SetBytes(benchSession[:]))
		parties[i] = floorParty{signing.NewLocalParty(new(big.Int).SetBytes(benchDigest[:]), params, key, out, end, len(benchDigest)), id}
	}
	return floorRun(parties, out, errs, func() bool { return len(end) == len(keys) })
}

func floorKeygen(pre []keygen.LocalPartySaveData) error {
	var ids tsslib.UnSortedPartyIDs
	for i := range pre {
		ids = append(ids, tsslib.NewPartyID(fmt.Sprint(i), fmt.Sprint(i), tss.PartyKey(testkeys.Peer(5000+i), events.Hash{})))
	}
	sorted := tsslib.SortPartyIDs(ids)
	ctx := tsslib.NewPeerContext(sorted)
	n := len(pre)
	out := make(chan tsslib.Message, 64*n*n)
	end := make(chan *keygen.LocalPartySaveData, n)
	errs := make(chan *tsslib.Error, n)
	parties := make([]floorParty, n)
	for i, id := range sorted {
		params := tsslib.NewParameters(tsslib.S256(), ctx, id, n, 2)
		params.SetSessionNonce(new(big.Int).SetBytes(benchSession[:]))
		parties[i] = floorParty{keygen.NewLocalParty(params, out, end, pre[i].LocalPreParams), id}
	}
	return floorRun(parties, out, errs, func() bool { return len(end) == n })
}

func floorReshare(keys []keygen.LocalPartySaveData) error {
	var oldIDs, newIDs tsslib.UnSortedPartyIDs
	for i := range 3 {
		oldIDs = append(oldIDs, tsslib.NewPartyID(fmt.Sprint("old", i), "old", keys[i].ShareID))
	}
	for i := range 5 {
		newIDs = append(newIDs, tsslib.NewPartyID(fmt.Sprint("new", i), "new", tss.PartyKey(testkeys.Peer(6000+i), events.Hash{})))
	}
	oldSorted, newSorted := tsslib.SortPartyIDs(oldIDs), tsslib.SortPartyIDs(newIDs)
	oldCtx, newCtx := tsslib.NewPeerContext(oldSorted), tsslib.NewPeerContext(newSorted)
	out := make(chan tsslib.Message, 64*64)
	end := make(chan *keygen.LocalPartySaveData, 8)
	errs := make(chan *tsslib.Error, 8)
	var parties []floorParty
	for _, id := range oldSorted {
		var key keygen.LocalPartySaveData
		for _, k := range keys[:3] {
			if k.ShareID.Cmp(id.KeyInt()) == 0 {
				key = k
			}
		}
		params := tsslib.NewReSharingParameters(tsslib.S256(), oldCtx, newCtx, id, 3, 2, 5, 2)
		params.SetSessionNonce(new(big.Int).SetBytes(benchSession[:]))
		parties = append(parties, floorParty{resharing.NewLocalParty(params, key, out, end), id})
	}
	for j, id := range newSorted {
		params := tsslib.NewReSharingParameters(tsslib.S256(), oldCtx, newCtx, id, 3, 2, 5, 2)
		params.SetSessionNonce(new(big.Int).SetBytes(benchSession[:]))
		save := keygen.NewLocalPartySaveData(5)
		save.LocalPreParams = keys[j].LocalPreParams
		parties = append(parties, floorParty{resharing.NewLocalParty(params, save, out, end), id})
	}
	return floorRun(parties, out, errs, func() bool { return len(end) == 8 })
}

func floorRun(parties []floorParty, out chan tsslib.Message, errs chan *tsslib.Error, done func() bool) error {
	byKey := func(id *tsslib.PartyID) *floorParty {
		for i := range parties {
			if parties[i].id == id || (parties[i].id.Id == id.Id && parties[i].id.KeyInt().Cmp(id.KeyInt()) == 0) {
				return &parties[i]
			}
		}
		return nil
	}
	for _, p := range parties {
		go func() {
			if err := p.party.Start(); err != nil {
				errs <- err
			}
		}()
	}
	return floorRoute(parties, byKey, out, done, errs)
}

// SignFloor is the in-process floor of one signature by t+1 signers of
// the committee's test key (raw tss-lib, in-memory routing): the best of
// runs.
func SignFloor(testKeys fs.FS, n, t, runs int) (time.Duration, error) {
	keys, err := testkeys.Load(testKeys, n, t)
	if err != nil {
		return 0, err
	}
	var best time.Duration
	for range max(1, runs) {
		start := time.Now()
		if err := floorSign(keys[:t+1], t); err != nil {
			return 0, err
		}
		if d := time.Since(start); best == 0 || d < best {
			best = d
		}
	}
	return best, nil
}
