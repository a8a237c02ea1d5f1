package replay_test

import (
	"bytes"
	"crypto/sha512"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/replay"
)

func openLog(t *testing.T, dir string) *events.Store {
	t.Helper()
	s, err := events.Open(dir, events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// summaryOf is what Diff should report for ev, computed from the event
// rather than from the stored record.
func summaryOf(t *testing.T, ev events.Event) replay.RecordSummary {
	t.Helper()
	body, err := events.EncodeEvent(nil, ev)
	if err != nil {
		t.Fatal(err)
	}
	return replay.RecordSummary{Kind: ev.Kind(), BodyHash: sha512.Sum512_256(body), BodyBytes: len(body)}
}

func replaced(evs []events.Event, i int, ev events.Event) []events.Event {
	out := slices.Clone(evs)
	out[i] = ev
	return out
}

// diffLog is long enough for Diff to need several windows.
func diffLog() []events.Event {
	return append(eventstest.Samples(), eventstest.Pings(2*events.ReadChunk+500, 9)...)
}

func TestDiff(t *testing.T) {
	base := diffLog()
	n := len(base)
	pingAt := func(from int) int {
		for i := from; i < n; i++ {
			if base[i].Kind() == events.KindPingReceived {
				return i
			}
		}
		t.Fatalf("no ping after index %d", from)
		return 0
	}
	// the ping at index i with one bit of its signature flipped: same
	// kind, same length, other bytes
	otherPing := func(i int) events.Event {
		msg := base[i].(*events.PingReceived).Msg
		msg.Sig = bytes.Clone(msg.Sig)
		msg.Sig[10] ^= 1
		other := &events.PingReceived{Msg: msg}
		if was, is := summaryOf(t, base[i]), summaryOf(t, other); was.BodyBytes != is.BodyBytes || was.BodyHash == is.BodyHash {
			t.Fatalf("test wants a body of the same length with other bytes: %s, %s", was, is)
		}
		return other
	}
	mid := pingAt(3000)
	boundary := pingAt(events.ReadChunk) // in Diff's second window
	last := pingAt(n - 10)

	// Same body, other kind: a ping the node sent, not one it received.
	sentInstead := &events.MessageSent{Msg: base[mid].(*events.PingReceived).Msg}
	if summaryOf(t, sentInstead).BodyHash != summaryOf(t, base[mid]).BodyHash {
		t.Fatal("test wants a body equal to the ping's")
	}

	cases := []struct {
		name string
		a, b []events.Event
		at   int // index of the first difference; -1 for none
	}{
		{"identical", base, base, -1},
		{"two empty logs", nil, nil, -1},
		{"one empty", nil, base, -1},
		{"A is a prefix of B", base[:mid], base, -1},
		{"B is a prefix of A", base, base[:mid], -1},
		{"A is B but its last record", base[:n-1], base, -1},
		{"body differs in the middle", base, replaced(base, mid, otherPing(mid)), mid},
		{"kind differs, body the same", base, replaced(base, mid, sentInstead), mid},
		{"kind and body differ", replaced(base, mid, &events.Tick{Time: eventstest.Epoch}), base, mid},
		{"at the first seq", replaced(base, 0, &events.Tick{Time: eventstest.Epoch}), base, 0},
		{"in a later window", base, replaced(base, boundary, otherPing(boundary)), boundary},
		{"at the last seq", base, replaced(base, last, otherPing(last))[:last+1], last},
		{"in A, which is shorter", replaced(base, mid, otherPing(mid))[:mid+100], base, mid},
		{"in B, which is shorter", base, replaced(base, mid, otherPing(mid))[:mid+1], mid},
		{"only the first of two", replaced(replaced(base, mid, otherPing(mid)), last, otherPing(last)), base, mid},
	}
	dirs := map[string]string{} // one log per distinct event list, shared by the cases
	tempDir := t.TempDir
	dirOf := func(t *testing.T, evs []events.Event) string {
		t.Helper()
		var key []byte
		for _, ev := range evs {
			s := summaryOf(t, ev)
			key = append(append(key, s.Kind.String()...), s.BodyHash[:]...)
		}
		if dir, ok := dirs[string(key)]; ok {
			return dir
		}
		dir := tempDir()
		s, err := events.Open(dir, events.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			if _, err := s.Append(evs...); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		dirs[string(key)] = dir
		return dir
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := replay.Diff(openLog(t, dirOf(t, tc.a)), openLog(t, dirOf(t, tc.b)))
			if err != nil {
				t.Fatal(err)
			}
			want := replay.DiffResult{LastA: uint64(len(tc.a)), LastB: uint64(len(tc.b)), Compared: uint64(min(len(tc.a), len(tc.b)))}
			if tc.at >= 0 {
				want.First = &replay.Difference{Seq: uint64(tc.at + 1), A: summaryOf(t, tc.a[tc.at]), B: summaryOf(t, tc.b[tc.at])}
				want.Compared = uint64(tc.at + 1)
			}
			if got.LastA != want.LastA || got.LastB != want.LastB || got.Compared != want.Compared {
				t.Errorf("lengths: got last %d/%d, compared %d; want %d/%d, %d",
					got.LastA, got.LastB, got.Compared, want.LastA, want.LastB, want.Compared)
			}
			switch {
			case want.First == nil && got.First != nil:
				t.Errorf("identical prefixes reported as differing: %s", got.First)
			case want.First != nil && got.First == nil:
				t.Errorf("difference at seq %d not found", want.First.Seq)
			case want.First != nil && *got.First != *want.First:
				t.Errorf("got %s\nwant %s", got.First, want.First)
			}
		})
	}
}

func TestDiffSummaryText(t *testing.T) {
	d := replay.Difference{
		Seq: 7,
		A:   replay.RecordSummary{Kind: events.KindTick, BodyHash: eventstest.Hash("a"), BodyBytes: 9},
		B:   replay.RecordSummary{Kind: events.KindPingReceived, BodyHash: eventstest.Hash("b"), BodyBytes: 310},
	}
	want := "first difference at seq 7: A has tick " + eventstest.Hash("a").String()[:16] + " (9 bytes), B has ping-received " +
		eventstest.Hash("b").String()[:16] + " (310 bytes)"
	if got := d.String(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

// TestDiffDamage: a record that fails its checksum is damage, reported as
// an error, not as a difference.
func TestDiffDamage(t *testing.T) {
	evs := diffLog()
	dir := writeLog(t, evs)
	i := 3000
	for evs[i].Kind() != events.KindPingReceived {
		i++
	}
	body, err := events.EncodeEvent(nil, evs[i])
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, events.FileName))
	if err != nil {
		t.Fatal(err)
	}
	at := bytes.Index(data, events.AppendRecord(nil, uint64(i+1), evs[i].Kind(), body))
	if at < 0 {
		t.Fatal("record not found")
	}
	damaged := t.TempDir()
	data[at+40] ^= 1
	if err := os.WriteFile(filepath.Join(damaged, events.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, order := range [][2]string{{dir, damaged}, {damaged, dir}} {
		res, err := replay.Diff(openLog(t, order[0]), openLog(t, order[1]))
		if !errors.Is(err, events.ErrCorrupt) || res.First != nil {
			t.Errorf("diff with a damaged log: %+v, %v; want an ErrCorrupt error", res, err)
		}
	}
}
