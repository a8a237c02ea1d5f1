package sim

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/tss"
)

// TestRestartEndsInterruptedSession stops the simulation while a real
// signing session runs and reopens one of its signers from its data
// directory: the session's parties lived in memory only, so the node
// records it as failed (no culprits: the fault was its own), takes its
// share of the current key back from its share store, and its next
// ping's share proof verifies against the published key.
func TestRestartEndsInterruptedSession(t *testing.T) {
	s, err := New(Config{Nodes: 5, Threshold: 2, Seed: 3, Duration: time.Hour, Dir: t.TempDir(), TSS: true,
		DepositEvery: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	signer := -1
	for step := 0; signer < 0; step++ {
		if step > 600 {
			t.Fatal("no signing session started in ten minutes")
		}
		if err := s.Step(); err != nil {
			t.Fatal(err)
		}
		for _, n := range s.nodes {
			n.node.View(func(st *projections.State) {
				if len(st.Unfinished()) > 0 && signer < 0 {
					signer = n.index
				}
			})
		}
	}
	sn := s.nodes[signer]
	var running []events.Hash
	sn.node.View(func(st *projections.State) { running = st.Unfinished() })
	s.Close()

	dir := filepath.Join(s.cfg.Dir, fmt.Sprintf("node-%d", signer))
	nodeTSS, err := s.nodeTSS(sn, dir)
	if err != nil {
		t.Fatal(err)
	}
	var sent []events.Signed
	reopened, err := node.Open(dir, node.Config{Identity: sn.key, TSS: nodeTSS, NoSync: true, Publish: func(m events.Signed) { sent = append(sent, m) }})
	if err != nil {
		t.Fatal(err)
	}
	reopened.View(func(st *projections.State) {
		if left := st.Unfinished(); len(left) != 0 {
			t.Fatalf("sessions %v still unfinished after the restart", left)
		}
	})
	for i := range 4 { // a ping is due every 3 s
		if err := reopened.Tick(s.Now().Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	if err := reopened.Close(); err != nil {
		t.Fatal(err)
	}
	var ping *events.Ping
	for _, m := range sent {
		if m.Type == events.TypePing {
			ping = new(events.Ping)
			if err := events.Unmarshal(m.Body, ping); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ping == nil || len(ping.TSSProof) == 0 {
		t.Fatal("the restarted node sent no ping with a share proof")
	}
	store, err := events.Open(filepath.Join(dir, node.LogDir), events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	interrupted := 0
	err = store.ForEach(1, store.LastSeq(), func(_ uint64, ev events.Event) error {
		if fin, ok := ev.(*events.TSSSessionFinished); ok && fin.Session == running[0] {
			if fin.Outcome != events.OutcomeFailed || len(fin.Culprits) != 0 {
				t.Fatalf("interrupted session recorded as %s with culprits %v", fin.Outcome, fin.Culprits)
			}
			interrupted++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if interrupted != 1 {
		t.Fatalf("the interrupted session has %d outcomes, want 1", interrupted)
	}
	// The ping's share proof verifies with the peers' own rules.
	state := projections.NewState()
	if err := store.ForEach(1, store.LastSeq(), func(seq uint64, ev events.Event) error { state.Apply(seq, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	key, ok := state.Keys.Current()
	if !ok {
		t.Fatal("no current key")
	}
	var point []byte
	for _, sp := range key.SharePoints {
		if sp.Peer == sn.id {
			point = sp.Point
		}
	}
	ctx := tss.ProofContext{Purpose: tss.ProofForPing, KeyID: key.KeyID, Peer: sn.id, Bucket: projections.PingProofBucket(ping.Time, state.Summary.Params())}
	if ping.KeyID != key.KeyID || !tss.VerifyShare(point, ping.TSSProof, ctx) {
		t.Fatal("the restarted node's share proof does not verify against its published share point")
	}
}
