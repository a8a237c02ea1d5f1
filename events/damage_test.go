package events_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

// writeLog makes a closed log of a genesis and count ping-shaped events,
// and returns its directory, the file's bytes and the events.
func writeLog(t *testing.T, count int) (string, []byte, []events.Event) {
	t.Helper()
	dir := t.TempDir()
	s, err := events.Open(dir, events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	evs := append([]events.Event{eventstest.Samples()[0]}, eventstest.Pings(count, 7)...)
	for i := 0; i < len(evs); i += 100 {
		if _, err := s.Append(evs[i:min(i+100, len(evs))]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, events.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return dir, data, evs
}

// verifyCopy writes data as a log, then opens and verifies it. It returns
// the first error, or the events read back.
func verifyCopy(t *testing.T, data []byte) ([]events.Event, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, events.FileName), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := events.Open(dir, events.Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if _, err := s.Verify(); err != nil {
		return nil, err
	}
	var out []events.Event
	err = s.ForEach(0, 0, func(_ uint64, ev events.Event) error { out = append(out, ev); return nil })
	return out, err
}

func checkOneLine(t *testing.T, err error, what string) {
	t.Helper()
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("%s: error is not one line: %q", what, err)
	}
	if !events.IsDamage(err) {
		t.Fatalf("%s: error %q is not reported as damage", what, err)
	}
}

func TestVerifyCatchesFlippedRecordByte(t *testing.T) {
	_, data, evs := writeLog(t, 3000)
	if got, err := verifyCopy(t, data); err != nil || !reflect.DeepEqual(got, evs) {
		t.Fatalf("the intact log does not verify: %v", err)
	}
	body, _ := events.EncodeEvent(nil, evs[1234])
	rec := events.AppendRecord(nil, 1235, evs[1234].Kind(), body)
	at := bytes.Index(data, rec)
	if at < 0 {
		t.Fatal("record not found in the file")
	}
	for _, offset := range []int{0, 5, 12, len(rec) / 2, len(rec) - 1} {
		damaged := bytes.Clone(data)
		damaged[at+offset] ^= 0x10
		_, err := verifyCopy(t, damaged)
		if err == nil {
			t.Fatalf("a flipped byte at record offset %d went unnoticed", offset)
		}
		checkOneLine(t, err, "flipped record byte")
	}
}

func TestVerifyCatchesTruncation(t *testing.T) {
	_, data, evs := writeLog(t, 3000)
	// bbolt grows its file ahead of use, so cut where records are: through
	// the last record, through a middle one, and into the first pages.
	recordAt := func(i int) int {
		body, _ := events.EncodeEvent(nil, evs[i])
		at := bytes.Index(data, events.AppendRecord(nil, uint64(i+1), evs[i].Kind(), body))
		if at < 0 {
			t.Fatalf("record %d not found in the file", i+1)
		}
		return at
	}
	for _, size := range []int{recordAt(len(evs)-1) + 10, recordAt(len(evs) / 2), 3 * 4096, 4096, 100} {
		_, err := verifyCopy(t, data[:size])
		if err == nil {
			t.Fatalf("a file truncated to %d of %d bytes verified", size, len(data))
		}
		checkOneLine(t, err, "truncated file")
	}
}

// TestRandomDamage flips random bytes anywhere in the file. Whatever it
// hits, the log is either refused with a one-line error or reads back
// exactly what was written: damage is never silent and never a crash.
func TestRandomDamage(t *testing.T) {
	_, data, evs := writeLog(t, 2000)
	rng := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for i := range 300 {
		damaged := bytes.Clone(data)
		for range 1 + rng.IntN(3) {
			damaged[rng.IntN(len(damaged))] ^= byte(1 + rng.IntN(255))
		}
		got, err := verifyCopy(t, damaged)
		if err != nil {
			checkOneLine(t, err, "random damage")
			refused++
			continue
		}
		if !reflect.DeepEqual(got, evs) {
			t.Fatalf("damage case %d verified but reads back other events", i)
		}
	}
	t.Logf("%d of 300 damaged copies refused; the rest hit unused bytes", refused)
	if refused == 0 {
		t.Fatal("no damage detected at all")
	}
}
