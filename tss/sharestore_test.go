package tss_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
	"github.com/metanode/metanode/tss"
)

// testStore opens a store for peer with next to no argon2id work.
func testStore(t *testing.T, dir string, passphrase string, peer events.PeerID) *tss.ShareStore {
	t.Helper()
	store, err := tss.OpenShareStore(dir, []byte(passphrase), tss.ShareStoreOptions{Peer: peer, InsecureTestKDF: true})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

func TestShareStore(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	store := testStore(t, dir, "correct horse", eventstest.Peer(0))
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
	if !bytes.HasPrefix(raw, []byte("metanode-share-v2\n")) {
		t.Fatalf("the file starts %q, want the format 2 magic", raw[:18])
	}
	if secret := keys[0].Xi.Text(10); len(secret) > 8 && bytes.Contains(raw, []byte(secret[:16])) {
		t.Fatal("the share is in the file in the clear")
	}
	got, err := store.Load(keyID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Xi.Cmp(keys[0].Xi) != 0 || !got.ECDSAPub.Equals(keys[0].ECDSAPub) {
		t.Fatal("loaded share differs")
	}

	wrong := testStore(t, dir, "wrong horse", eventstest.Peer(0))
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
	if _, err := tss.OpenShareStore(dir, nil, tss.ShareStoreOptions{Peer: eventstest.Peer(0)}); err == nil {
		t.Fatal("an empty passphrase was accepted")
	}
	peerless := testStore(t, dir, "correct horse", "")
	if err := peerless.Save(keyID, &keys[0]); err == nil || !strings.Contains(err.Error(), "peer") {
		t.Fatalf("a store without a peer id saved a share: %v", err)
	}
	if _, err := peerless.Load(other); err == nil {
		t.Fatal("a store without a peer id loaded a share")
	}
}

// TestShareOfAnotherPeer: HA replicas of different nodes may share a
// passphrase; a share file copied from one node's store into another's
// does not open there.
func TestShareOfAnotherPeer(t *testing.T) {
	keys, _ := upstream(t)
	mine, theirs := t.TempDir(), t.TempDir()
	keyID := eventstest.Hash("key")
	if err := testStore(t, theirs, "shared passphrase", eventstest.Peer(1)).Save(keyID, &keys[1]); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(theirs, keyID.String()+".share"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(mine, keyID.String()+".share"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore(t, mine, "shared passphrase", eventstest.Peer(0)).Load(keyID); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("another node's share opened: %v", err)
	}
	if _, err := testStore(t, mine, "shared passphrase", eventstest.Peer(1)).Load(keyID); err != nil {
		t.Fatalf("the copy no longer opens for its own peer: %v", err)
	}
}

// sealV1 writes a file of format 1 as metanode wrote them before format 2
// (written out here again, not taken from the package, so the test holds
// the old format fixed): argon2id t=1, 64 MiB, 2 threads, its output the
// XChaCha20-Poly1305 key, aad the associated data.
func sealV1(t *testing.T, path string, passphrase string, aad []byte, v any) {
	t.Helper()
	plain, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	salt, nonce := make([]byte, 16), make([]byte, chacha20poly1305.NonceSizeX)
	rand.Read(salt)
	rand.Read(nonce)
	aead, err := chacha20poly1305.NewX(argon2.IDKey([]byte(passphrase), salt, 1, 64<<10, 2, 32))
	if err != nil {
		t.Fatal(err)
	}
	out := append(append([]byte("metanode-share-v1\n"), salt...), nonce...)
	if err := os.WriteFile(path, aead.Seal(out, nonce, plain, aad), 0o600); err != nil {
		t.Fatal(err)
	}
}

func formatOf(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw[:min(len(raw), 18)])
}

// TestFormat1Upgrade: a share and an identity key sealed in format 1
// still open, and opening rewrites them in format 2, bound to the peer.
func TestFormat1Upgrade(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	keyID := eventstest.Hash("old key")
	path := filepath.Join(dir, keyID.String()+".share")
	sealV1(t, path, "pass", keyID[:], &keys[2])
	store := testStore(t, dir, "pass", eventstest.Peer(2))
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].Format != 1 {
		t.Fatalf("list before the load: %+v, %v", list, err)
	}
	got, err := store.Load(keyID)
	if err != nil {
		t.Fatalf("a format 1 share does not open: %v", err)
	}
	if got.Xi.Cmp(keys[2].Xi) != 0 {
		t.Fatal("the format 1 share loaded differs")
	}
	if f := formatOf(t, path); f != "metanode-share-v2\n" {
		t.Fatalf("after the load the file is %q, want format 2", f)
	}
	if list, _ := store.List(); len(list) != 1 || list[0].Format != 2 {
		t.Fatalf("list after the load: %+v", list)
	}
	if again, err := store.Load(keyID); err != nil || again.Xi.Cmp(keys[2].Xi) != 0 {
		t.Fatalf("the rewritten share: %v", err)
	}
	if _, err := testStore(t, dir, "pass", eventstest.Peer(3)).Load(keyID); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("the rewritten share is not bound to its peer: %v", err)
	}

	identity := filepath.Join(t.TempDir(), "identity.key")
	sealV1(t, identity, "pass", []byte("metanode/identity-key"), []byte("the identity key"))
	idStore := testStore(t, t.TempDir(), "pass", "")
	if key, err := idStore.LoadIdentity(identity); err != nil || string(key) != "the identity key" {
		t.Fatalf("a format 1 identity key: %q, %v", key, err)
	}
	if f := formatOf(t, identity); f != "metanode-share-v2\n" {
		t.Fatalf("after the load the identity file is %q, want format 2", f)
	}
	if key, err := idStore.LoadIdentity(identity); err != nil || string(key) != "the identity key" {
		t.Fatalf("the rewritten identity key: %q, %v", key, err)
	}
	// A share file is no identity key, in either format.
	if _, err := idStore.LoadIdentity(path); !errors.Is(err, tss.ErrShareLocked) {
		t.Fatalf("a share opened as an identity key: %v", err)
	}
}

// TestTamperedFile: a change to any byte of a file's header or
// ciphertext fails with ErrShareLocked; a header that asks for an absurd
// argon2id cost is refused before argon2id runs (were it not, this test
// would allocate terabytes or run for hours), naming the bound.
func TestTamperedFile(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	store := testStore(t, dir, "pass", eventstest.Peer(0))
	keyID := eventstest.Hash("key")
	if err := store.Save(keyID, &keys[0]); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, keyID.String()+".share")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const magic = 18
	u32 := func(off int, v uint32) func([]byte) { return func(b []byte) { binary.BigEndian.PutUint32(b[off:], v) } }
	flip := func(off int) func([]byte) { return func(b []byte) { b[off] ^= 1 } }
	for _, tc := range []struct {
		name   string
		change func([]byte)
		absurd bool
	}{
		{"time", u32(magic, 2), false},
		{"memory", u32(magic+4, 128), false},
		{"threads", u32(magic+8, 2), false},
		{"salt", flip(magic + 12), false},
		{"nonce", flip(magic + 12 + 16), false},
		{"ciphertext", flip(len(orig) - 40), false},
		{"tag", flip(len(orig) - 1), false},
		{"memory 4 TiB", u32(magic+4, 0xFFFFFFFF), true},
		{"memory just above 4 GiB", u32(magic+4, 4<<20+1), true},
		{"time 2^32-1", u32(magic, 0xFFFFFFFF), true},
		{"time 65", u32(magic, 65), true},
		{"time 0", u32(magic, 0), true},
		{"threads 0", u32(magic+8, 0), true},
		{"threads 256", u32(magic+8, 256), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := slices.Clone(orig)
			tc.change(raw)
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := store.Load(keyID)
			if !errors.Is(err, tss.ErrShareLocked) {
				t.Fatalf("a file with its %s changed: %v", tc.name, err)
			}
			if tc.absurd != strings.Contains(err.Error(), "beyond") {
				t.Fatalf("absurd %v, error %q", tc.absurd, err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("the error spans lines: %q", err)
			}
		})
	}
	for _, n := range []int{0, 10, magic + 12 + 16 + 24 - 1} {
		if err := os.WriteFile(path, orig[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(keyID); err == nil {
			t.Fatalf("a file cut to %d bytes opened", n)
		}
	}
}

// TestKDFParams: a store writes with RFC 9106's second recommendation
// unless told more; less is refused in one line; the parameters are in
// the file's header.
func TestKDFParams(t *testing.T) {
	if got, want := tss.DefaultKDF(), (tss.KDFParams{Time: 3, MemoryKiB: 64 << 10, Threads: 4}); got != want {
		t.Fatalf("default %v, want at least RFC 9106's second recommended option %v", got, want)
	}
	for _, kdf := range []tss.KDFParams{
		{Time: 1, MemoryKiB: 64 << 10, Threads: 4},
		{Time: 3, MemoryKiB: 32 << 10, Threads: 4},
		{Time: 3, MemoryKiB: 64 << 10, Threads: 1},
		{Time: 65, MemoryKiB: 64 << 10, Threads: 4},
		{Time: 3, MemoryKiB: 8 << 20, Threads: 4},
	} {
		_, err := tss.OpenShareStore(t.TempDir(), []byte("pass"), tss.ShareStoreOptions{KDF: kdf})
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Fatalf("%v: %v, want a one-line refusal", kdf, err)
		}
	}
	// The defaults, written: one real argon2id run at 64 MiB.
	dir := t.TempDir()
	store, err := tss.OpenShareStore(dir, []byte("pass"), tss.ShareStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "identity.key")
	if err := store.SaveIdentity(path, []byte("key")); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	header := raw[18:30]
	if got := [3]uint32{binary.BigEndian.Uint32(header), binary.BigEndian.Uint32(header[4:]), binary.BigEndian.Uint32(header[8:])}; got != [3]uint32{3, 64 << 10, 4} {
		t.Fatalf("header %v, want t=3 m=65536 p=4", got)
	}
	// Raised parameters are accepted and written (checked without running them).
	if _, err := tss.OpenShareStore(t.TempDir(), []byte("pass"), tss.ShareStoreOptions{KDF: tss.KDFParams{Time: 4, MemoryKiB: 256 << 10, Threads: 8}}); err != nil {
		t.Fatal(err)
	}
}

// TestEraseAndList: List describes what the store holds without the
// passphrase; Erase overwrites a share in place (a hard link to the file
// sees its bytes change), removes it and a leftover temporary copy, and
// may be repeated.
func TestEraseAndList(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	store := testStore(t, dir, "pass", eventstest.Peer(0))
	one, two := eventstest.Hash("one"), eventstest.Hash("two")
	for i, id := range []events.Hash{one, two} {
		if err := store.Save(id, &keys[i]); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a share"), 0o600)
	path := filepath.Join(dir, one.String()+".share")
	os.WriteFile(path+".tmp", []byte("a sealed copy a crash left"), 0o600)
	list, err := tss.ListShares(dir)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v, %v: want the two shares", list, err)
	}
	for _, info := range list {
		st, _ := os.Stat(filepath.Join(dir, info.KeyID.String()+".share"))
		if (info.KeyID != one && info.KeyID != two) || info.Format != 2 || info.Size != st.Size() || !info.ModTime.Equal(st.ModTime()) {
			t.Fatalf("list entry %+v", info)
		}
	}
	orig, _ := os.ReadFile(path)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	if err := store.Erase(one); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadFile(link)
	if len(left) != len(orig) || bytes.Equal(left[:64], orig[:64]) {
		t.Fatalf("the share's bytes were not overwritten in place (%d bytes left of %d)", len(left), len(orig))
	}
	for _, p := range []string{path, path + ".tmp"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("%s is still there: %v", filepath.Base(p), err)
		}
	}
	if list, _ := store.List(); len(list) != 1 || list[0].KeyID != two {
		t.Fatalf("after the erasure the store lists %+v", list)
	}
	if err := store.Erase(one); err != nil {
		t.Fatalf("a repeated erasure: %v", err)
	}
	if _, err := store.Load(two); err != nil {
		t.Fatalf("the other share: %v", err)
	}
	if list, err := tss.ListShares(filepath.Join(dir, "missing")); err != nil || len(list) != 0 {
		t.Fatalf("a missing store lists %+v, %v", list, err)
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

func TestPreParamsPool(t *testing.T) {
	keys, _ := upstream(t)
	store := testStore(t, t.TempDir(), "pool pass", "")
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

// An HA node's share store hands each share it saves, sealed as on disk,
// to its replicas; when they cannot take it, the save fails.
func TestShareStoreReplicates(t *testing.T) {
	keys, _ := upstream(t)
	dir := t.TempDir()
	store := testStore(t, dir, "correct horse", eventstest.Peer(0))
	var gotName string
	var gotData []byte
	store.ReplicateWith(func(name string, sealed []byte) error {
		gotName, gotData = name, sealed
		return nil
	})
	keyID := eventstest.Hash("key one")
	if err := store.Save(keyID, &keys[0]); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, keyID.String()+tss.ShareSuffix))
	if gotName != keyID.String()+tss.ShareSuffix || !bytes.Equal(gotData, raw) {
		t.Fatalf("replicated %q (%d bytes), want the file as written (%d bytes)", gotName, len(gotData), len(raw))
	}
	store.ReplicateWith(func(string, []byte) error { return errors.New("no quorum") })
	if err := store.Save(keyID, &keys[0]); err == nil {
		t.Fatal("a save the replicas did not take succeeded")
	}
}
