package cli_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

// TestTSSShares: `tss shares` lists every share file of a home with what
// the log says of its key (current, previous, unknown), without the
// passphrase; without a log every key is unknown.
func TestTSSShares(t *testing.T) {
	home := t.TempDir()
	store, err := tss.OpenShareStore(filepath.Join(home, "shares"), []byte("pass"), tss.ShareStoreOptions{Peer: eventstest.Peer(0), InsecureTestKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	old, cur, stray := eventstest.Hash("old key"), eventstest.Hash("current key"), eventstest.Hash("stray key")
	data := keygen.NewLocalPartySaveData(3)
	for _, id := range []events.Hash{old, cur, stray} {
		if err := store.Save(id, &data); err != nil {
			t.Fatal(err)
		}
	}
	// Without a log nothing is known of the keys, and the listing says so.
	out, err := run(t, "tss", "shares", "--home", home)
	if err != nil || strings.Count(out, " unknown\n") != 3 || !strings.Contains(out, "says nothing") {
		t.Fatalf("without a log: %v\n%s", err, out)
	}

	log, err := events.Open(filepath.Join(home, "log"), events.Options{})
	if err != nil {
		t.Fatal(err)
	}
	genesis := eventstest.Samples()[0]
	key := func(id events.Hash) *events.KeyPublished {
		return &events.KeyPublished{KeyID: id, PublicKey: eventstest.Bytes("pub", 33), Threshold: 2,
			SharePoints: []events.SharePoint{{Peer: eventstest.Peer(0), Point: eventstest.Bytes("x", 33), ShareID: eventstest.Bytes("id", 32)}}}
	}
	if _, err := log.Append(genesis, key(old), key(cur)); err != nil {
		t.Fatal(err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, "tss", "shares", "--home", home)
	if err != nil {
		t.Fatal(err)
	}
	want := map[events.Hash]string{old: "previous", cur: "current", stray: "unknown"}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("want one line per share:\n%s", out)
	}
	for _, line := range lines {
		f := strings.Fields(line)
		id := f[0]
		var status string
		for h, s := range want {
			if h.String() == id {
				status = s
			}
		}
		if len(f) != 6 || f[1] != "v2" || f[5] != status {
			t.Fatalf("line %q: want format v2 and status %q", line, status)
		}
		info, _ := os.Stat(filepath.Join(home, "shares", id+".share"))
		if f[2] != strconv.FormatInt(info.Size(), 10) {
			t.Fatalf("line %q: size %s, the file has %d bytes", line, f[2], info.Size())
		}
	}

	out, err = run(t, "tss", "shares", "--home", home, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []struct {
		KeyID  string `json:"key_id"`
		Format string `json:"format"`
		Size   int64  `json:"size"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 3 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for _, l := range listed {
		for h, s := range want {
			if h.String() == l.KeyID && (l.Status != s || l.Format != "v2" || l.Size == 0) {
				t.Fatalf("--json entry %+v, want status %s", l, s)
			}
		}
	}
}
