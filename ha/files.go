package ha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/metanode/metanode/internal/durable"
)

// Files are the files an HA node's replicas keep alike besides the log:
// its shares, sealed with the operator's passphrase. A keygen or a
// regroup writes a new share at the leader; raft carries it to every
// replica (Replica.PutFile), and a snapshot carries all of them, so a
// replica that takes over holds the share of the current key.
type Files interface {
	// Check refuses a name that is not one of these files'.
	Check(name string) error
	Put(name string, data []byte) error
	Get(name string) ([]byte, error)
	List() ([]string, error)
}

// DirFiles keeps files of one suffix in a directory (mode 0600, written
// durably). A name is a plain file name with the suffix, nothing else.
type DirFiles struct {
	Dir    string
	Suffix string
}

func (d DirFiles) Check(name string) error {
	if name == "" || filepath.Base(name) != name || strings.HasPrefix(name, ".") || !strings.HasSuffix(name, d.Suffix) || strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("replicated file %q: not a plain %s file name", name, d.Suffix)
	}
	return nil
}

func (d DirFiles) Put(name string, data []byte) error {
	if err := d.Check(name); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return err
	}
	return durable.WriteFile(filepath.Join(d.Dir, name), data, 0o600)
}

func (d DirFiles) Get(name string) ([]byte, error) {
	if err := d.Check(name); err != nil {
		return nil, err
	}
	return os.ReadFile(filepath.Join(d.Dir, name))
}

func (d DirFiles) List() ([]string, error) {
	entries, err := os.ReadDir(d.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && d.Check(e.Name()) == nil {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// fileVersion is the first byte of a raft entry that carries one file.
const fileVersion = 2

// maxFile bounds a replicated file (a share is a few tens of KiB).
const maxFile = 4 << 20

func encodeFile(name string, data []byte) ([]byte, error) {
	if len(name) > 255 || len(data) > maxFile {
		return nil, fmt.Errorf("replicated file %q: too large", name)
	}
	buf := []byte{fileVersion, byte(len(name))}
	buf = append(buf, name...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(data)))
	return append(buf, data...), nil
}

func decodeFile(entry []byte) (string, []byte, error) {
	if len(entry) < 2 || entry[0] != fileVersion {
		return "", nil, errors.New("raft entry: not a file")
	}
	n := int(entry[1])
	if len(entry) < 2+n+4 {
		return "", nil, errors.New("raft entry: truncated file")
	}
	name := string(entry[2 : 2+n])
	size := binary.BigEndian.Uint32(entry[2+n:])
	if uint64(len(entry)-2-n-4) != uint64(size) {
		return "", nil, errors.New("raft entry: file length mismatch")
	}
	return name, entry[2+n+4:], nil
}
