package tss_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

func TestShareStore(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	store, err := tss.OpenShareStore(dir, []byte("correct horse"))
	if err != nil {
		t.Fatal(err)
	}
	keyID := eventstest.Hash("key one")
	if err := store.Save(keyID, &keys[0]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keyID.String()+".share")
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("share file mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	raw, _ := os.ReadFile(path)
	if secret := keys[0].Xi.Text(10); len(secret) > 8 && contains(raw, []byte(secret[:16])) {
		t.Fatal("the share is in the file in the clear")
	}
	got, err := store.Load(keyID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Xi.Cmp(keys[0].Xi) != 0 || !got.ECDSAPub.Equals(keys[0].ECDSAPub) {
		t.Fatal("loaded share differs")
	}

	wrong, _ := tss.OpenShareStore(dir, []byte("wrong horse"))
	if _, err := wrong.Load(keyID); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	other := eventstest.Hash("key two")
	if err := os.Rename(path, filepath.Join(dir, other.String()+".share")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Load(other); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("a share renamed to another key's name opened: %v", err)
	}
	raw[len(raw)-3] ^= 1
	os.WriteFile(filepath.Join(dir, keyID.String()+".share"), raw, 0o600)
	if _, err := store.Load(keyID); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("an altered file opened: %v", err)
	}
	if _, err := tss.OpenShareStore(dir, nil); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
}

func TestPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	open, private := filepath.Join(dir, "open"), filepath.Join(dir, "private")
	os.WriteFile(open, []byte("secret"), 0o644)
	os.WriteFile(private, []byte("secret"), 0o600)
	if _, err := tss.PassphraseFromFile(open); err == nil {
		t.Fatal("a world-readable key file was accepted")
	}
	if p, err := tss.PassphraseFromFile(private); err != nil || string(p) != "secret" {
		t.Fatalf("%q %v", p, err)
	}
}

func contains(haystack, needle []byte) bool {
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if string(haystack[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}

func TestPreParamsPool(t *testing.T) {
	keys, _ := upstream(t)
	store, err := tss.OpenShareStore(t.TempDir(), []byte("pool pass"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.TakePreParams(); err == nil {
		t.Fatal("took from an empty pool")
	}
	next := 0
	generate := func(context.Context) (*keygen.LocalPreParams, error) {
		p := keys[next].LocalPreParams // stands in for minutes of safe primes
		next++
		return &p, nil
	}
	var reports []int
	if err := store.FillPreParams(context.Background(), 3, generate, func(have, want int, _ time.Duration) { reports = append(reports, have) }); err != nil {
		t.Fatal(err)
	}
	if n, _ := store.PoolSize(); n != 3 || !slices.Equal(reports, []int{1, 2, 3}) {
		t.Fatalf("pool %d, reports %v", n, reports)
	}
	// A full pool generates nothing more.
	if err := store.FillPreParams(context.Background(), 2, generate, func(int, int, time.Duration) { t.Fatal("generated into a full pool") }); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		p, err := store.TakePreParams()
		if err != nil || !p.ValidateWithProof() {
			t.Fatalf("take: %v", err)
		}
		if seen[p.NTildei.String()] {
			t.Fatal("the same pre-parameters were handed out twice")
		}
		seen[p.NTildei.String()] = true
	}
	if n, _ := store.PoolSize(); n != 0 {
		t.Fatalf("pool holds %d after taking all", n)
	}
}
