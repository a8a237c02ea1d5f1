package durable_test

import (
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
