package durable_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/metanode/metanode/internal/durable"
)

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret")
	if err := durable.WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := durable.WriteFile(path, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	info, _ := os.Stat(path)
	if err != nil || string(data) != "two" || info.Mode().Perm() != 0o600 {
		t.Fatalf("%q %v %v", data, err, info.Mode())
	}
	if _, err := os.Stat(path + ".tmp"); !os.IsNotExist(err) {
		t.Fatal("the temporary file was left behind")
	}
	if err := durable.WriteFile(filepath.Join(t.TempDir(), "no", "such", "dir"), nil, 0o600); err == nil {
		t.Fatal("wrote into a missing directory")
	}
}

// TestErase: the bytes are overwritten in place (a hard link to the file,
// which keeps its inode alive, sees them change) and the file is gone.
func TestErase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "secret")
	secret := bytes.Repeat([]byte("the share "), 1000)
	if err := durable.WriteFile(path, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Link(path, link); err != nil {
		t.Fatal(err)
	}
	if err := durable.Erase(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("the file is still there: %v", err)
	}
	left, err := os.ReadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != len(secret) || bytes.Contains(left, []byte("the share")) {
		t.Fatalf("the old bytes were not overwritten in place: %d bytes, %q...", len(left), left[:20])
	}
	if err := durable.Erase(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("erasing a missing file: %v", err)
	}
	if err := durable.EraseIfExists(path); err != nil {
		t.Fatalf("EraseIfExists of a missing file: %v", err)
	}
}
