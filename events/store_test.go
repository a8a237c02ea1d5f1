package events_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

func openStore(t *testing.T, dir string) *events.Store {
	t.Helper()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t *testing.T, s *events.Store) []events.Event {
	t.Helper()
	var out []events.Event
	want := uint64(1)
	err := s.ForEach(0, 0, func(seq uint64, ev events.Event) error {
		if seq != want {
			t.Fatalf("ForEach gave seq %d, want %d", seq, want)
		}
		want++
		out = append(out, ev)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	samples := eventstest.Samples()
	first, err := s.Append(samples[:3]...)
	if err != nil || first != 1 {
		t.Fatalf("Append = %d, %v; want 1", first, err)
	}
	first, err = s.Append(samples[3:]...)
	if err != nil || first != 4 {
		t.Fatalf("second Append = %d, %v; want 4", first, err)
	}
	if got := readAll(t, s); !reflect.DeepEqual(got, samples) {
		t.Fatalf("read back %d events that differ from the %d appended", len(got), len(samples))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(samples[0]); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}

	s = openStore(t, dir)
	if s.LastSeq() != uint64(len(samples)) {
		t.Fatalf("LastSeq after reopen = %d, want %d", s.LastSeq(), len(samples))
	}
	first, err = s.Append(&events.Tick{Time: eventstest.Epoch})
	if err != nil || first != uint64(len(samples))+1 {
		t.Fatalf("append after reopen = %d, %v: seqs must continue without a gap", first, err)
	}
}

func TestScanRange(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.Append(eventstest.Pings(100, 5)...); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ from, to, wantFirst, wantLast uint64 }{
		{0, 0, 1, 100},
		{10, 20, 10, 20},
		{95, 0, 95, 100},
		{100, 100, 100, 100},
		{50, 1000, 50, 100},
	}
	for _, tc := range tests {
		var seqs []uint64
		if err := s.Scan(tc.from, tc.to, func(r events.Record) error { seqs = append(seqs, r.Seq); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(seqs) == 0 || seqs[0] != tc.wantFirst || seqs[len(seqs)-1] != tc.wantLast {
			t.Errorf("Scan(%d, %d) gave %v, want %d..%d", tc.from, tc.to, seqs, tc.wantFirst, tc.wantLast)
		}
	}
	stop := errors.New("stop")
	n := 0
	if err := s.Scan(0, 0, func(events.Record) error { n++; return stop }); err != stop || n != 1 {
		t.Errorf("Scan did not stop at the callback's error: %v after %d", err, n)
	}
}

// TestGroupCommit: concurrent appenders share commits and still get
// gapless, unique seqs.
func TestGroupCommit(t *testing.T) {
	s := openStore(t, t.TempDir())
	const writers, each = 32, 50
	var wg sync.WaitGroup
	seen := make([][]uint64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				seq, err := s.Append(eventstest.PingReceived(w, uint64(i)))
				if err != nil {
					t.Error(err)
					return
				}
				seen[w] = append(seen[w], seq)
			}
		}()
	}
	wg.Wait()
	all := map[uint64]bool{}
	for _, seqs := range seen {
		for _, seq := range seqs {
			if all[seq] {
				t.Fatalf("seq %d given twice", seq)
			}
			all[seq] = true
		}
	}
	for seq := uint64(1); seq <= writers*each; seq++ {
		if !all[seq] {
			t.Fatalf("seq %d never given", seq)
		}
	}
	stats := s.Stats()
	if stats.Events != writers*each || stats.Commits >= stats.Events {
		t.Fatalf("stats %+v: want %d events in fewer commits", stats, writers*each)
	}
	// Each writer's events keep its own order.
	for w, seqs := range seen {
		for i := 1; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("writer %d got seqs out of order: %v", w, seqs)
			}
		}
	}
}

// TestObserve: the commit observer sees every group commit, with the
// records it wrote and the time its transaction took.
func TestObserve(t *testing.T) {
	var mu sync.Mutex
	var calls, records int
	var took time.Duration
	s, err := events.Open(t.TempDir(), events.Options{Observe: func(n int, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		records += n
		took += d
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(eventstest.Pings(3, 1)...); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.Append(eventstest.PingReceived(w, 1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.Close(); err != nil { // the writer has stopped: every observation is in
		t.Fatal(err)
	}
	stats := s.Stats()
	mu.Lock()
	defer mu.Unlock()
	if records != 11 || uint64(calls) != stats.Commits || took <= 0 {
		t.Fatalf("observed %d records in %d commits taking %v; the store made %+v", records, calls, took, stats)
	}
}

func TestFollow(t *testing.T) {
	s := openStore(t, t.TempDir())
	pings := eventstest.Pings(30, 3)
	if _, err := s.Append(pings[:10]...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		done <- s.Follow(ctx, 5, func(seq uint64, ev events.Event) error {
			got <- seq
			return nil
		})
	}()
	for _, ev := range pings[10:] {
		if _, err := s.Append(ev); err != nil {
			t.Fatal(err)
		}
	}
	for want := uint64(5); want <= 30; want++ {
		if seq := <-got; seq != want {
			t.Fatalf("Follow gave seq %d, want %d", seq, want)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow ended with %v", err)
	}
}

func TestAppendRefusesUnknownKind(t *testing.T) {
	s := openStore(t, t.TempDir())
	if _, err := s.Append(strangeEvent{}); !errors.Is(err, events.ErrUnknownKind) {
		t.Fatalf("err = %v", err)
	}
	if s.LastSeq() != 0 {
		t.Fatal("a refused append wrote something")
	}
}

type strangeEvent struct{}

func (strangeEvent) Kind() events.Kind { return events.Kind(4000) }

func TestOpenRefusals(t *testing.T) {
	writeFile := func(t *testing.T, data []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, events.FileName), data, 0o600); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	foreignBolt := func(t *testing.T) string {
		dir := t.TempDir()
		db, err := bolt.Open(filepath.Join(dir, events.FileName), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error {
			b, _ := tx.CreateBucket([]byte("settings"))
			return b.Put([]byte("k"), []byte("v"))
		})
		db.Close()
		return dir
	}
	tests := []struct {
		name     string
		dir      func(t *testing.T) string
		readOnly bool
		want     error
	}{
		{"missing, read-only", func(t *testing.T) string { return t.TempDir() }, true, events.ErrNoLog},
		{"random bytes", func(t *testing.T) string { return writeFile(t, eventstest.Bytes("junk", 64<<10)) }, false, events.ErrForeign},
		{"text file", func(t *testing.T) string { return writeFile(t, []byte("hello\n")) }, false, events.ErrForeign},
		{"empty file, read-only", func(t *testing.T) string { return writeFile(t, nil) }, true, events.ErrCorrupt},
		{"bbolt file of another program", foreignBolt, false, events.ErrForeign},
		{"bbolt file of another program, read-only", foreignBolt, true, events.ErrForeign},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := tc.dir(t)
			_, err := events.Open(dir, events.Options{ReadOnly: tc.readOnly})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q should be one line naming %s", err, dir)
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	openStore(t, dir)
	_, err := events.Open(dir, events.Options{ReadOnly: true, LockTimeout: 50_000_000})
	if !errors.Is(err, events.ErrLocked) {
		t.Fatalf("second open = %v, want ErrLocked", err)
	}
}

// TestScanChunked: a chunked scan reads every record once, in order,
// across chunk boundaries, and stops at fn's error.
func TestScanChunked(t *testing.T) {
	s, err := events.Open(t.TempDir(), events.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	total := 2*events.ReadChunk + 7
	if _, err := s.Append(eventstest.Pings(total, 9)...); err != nil {
		t.Fatal(err)
	}
	var next uint64 = 1
	if err := s.ForEachChunked(1, 0, func(seq uint64, ev events.Event) error {
		if seq != next {
			return fmt.Errorf("seq %d, want %d", seq, next)
		}
		next++
		return nil
	}); err != nil || next != uint64(total)+1 {
		t.Fatalf("read up to %d of %d: %v", next-1, total, err)
	}
	stop := errors.New("stop")
	read := 0
	if err := s.ScanChunked(5, 0, func(events.Record) error {
		if read++; read == events.ReadChunk+3 {
			return stop
		}
		return nil
	}); !errors.Is(err, stop) || read != events.ReadChunk+3 {
		t.Fatalf("stopped after %d: %v", read, err)
	}
}
