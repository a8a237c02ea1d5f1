package replay_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/projections"
	"github.com/metanode/metanode/replay"
)

func writeLog(t *testing.T, evs []events.Event) string {
	t.Helper()
	dir := t.TempDir()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(evs...); err != nil {
		t.Fatal(err)
	}
	return dir
}

func run(t *testing.T, dir string, until replay.Until) replay.Result {
	t.Helper()
	s, err := events.Open(dir, events.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := replay.Run(s, projections.NewState(), until)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func testLog() []events.Event {
	return append(eventstest.Samples(), eventstest.Pings(2000, 9)...)
}

func TestReplayIsDeterministic(t *testing.T) {
	dir := writeLog(t, testLog())
	first := run(t, dir, replay.Until{})
	if again := run(t, dir, replay.Until{}); again != first {
		t.Fatalf("two replays differ: %+v vs %+v", first, again)
	}
	copyDir := t.TempDir()
	copyFile(t, filepath.Join(dir, events.FileName), filepath.Join(copyDir, events.FileName))
	if copied := run(t, copyDir, replay.Until{}); copied != first {
		t.Fatalf("a copy of the log replays differently: %+v vs %+v", copied, first)
	}
	// A log written anew from the same events gives the same hash too.
	if rewritten := run(t, writeLog(t, testLog()), replay.Until{}); rewritten != first {
		t.Fatalf("the same events written again replay differently")
	}
	if first.Events != uint64(len(testLog())) {
		t.Fatalf("replayed %d events of %d", first.Events, len(testLog()))
	}
}

func TestReplayHashSeesEveryEvent(t *testing.T) {
	evs := testLog()
	base := run(t, writeLog(t, evs), replay.Until{}).StateHash
	changed := append(append([]events.Event{}, evs...), eventstest.PingReceived(42, 1))
	if run(t, writeLog(t, changed), replay.Until{}).StateHash == base {
		t.Fatal("one more event from a new peer left the state hash unchanged")
	}
}

// TestReplayUntilSeq: stopping at seq N gives the state of a log that
// ends at N.
func TestReplayUntilSeq(t *testing.T) {
	evs := testLog()
	dir := writeLog(t, evs)
	for _, n := range []int{1, 16, 17, 500, len(evs)} {
		got := run(t, dir, replay.Until{Seq: uint64(n)})
		want := run(t, writeLog(t, evs[:n]), replay.Until{})
		if got != want || got.LastSeq != uint64(n) {
			t.Errorf("until seq %d: %+v, the prefix log gives %+v", n, got, want)
		}
	}
}

// TestReplayUntilTime: stopping at time T keeps everything up to the first
// tick after T.
func TestReplayUntilTime(t *testing.T) {
	evs := testLog()
	dir := writeLog(t, evs)
	cut := eventstest.Epoch.Add(30 * time.Second)
	prefix := len(evs)
	for i, ev := range evs {
		if tick, ok := ev.(*events.Tick); ok && tick.Time > cut {
			prefix = i
			break
		}
	}
	if prefix == len(evs) {
		t.Fatal("test log has no tick after the cut")
	}
	got := run(t, dir, replay.Until{Time: cut})
	want := run(t, writeLog(t, evs[:prefix]), replay.Until{})
	if got != want {
		t.Fatalf("until %v: %+v, want %+v", cut, got, want)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
