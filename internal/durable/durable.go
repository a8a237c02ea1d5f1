// Package durable writes files that survive a crash whole or not at all:
// the data goes to a temporary file beside the target, is fsynced, and is
// renamed into place, and the directory is fsynced so the rename itself
// survives. A reader never sees half a file. It also erases files: their
// bytes overwritten before they are removed.
package durable

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// failpoint, if set (tests only), is called at each step of a write or
// an erasure: the crash test kills its child process there.
var failpoint func(step string)

func reach(step string) {
	if failpoint != nil {
		failpoint(step)
	}
}

// WriteFile writes data to path durably with the given mode. When it
// returns nil the new content is on disk and survives a crash; when it
// fails, or the process dies during it, path holds its old content (or
// nothing, if it had none). A temporary file path+".tmp" may be left.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	reach("created")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	reach("written")
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	reach("synced")
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	reach("renamed")
	// Without this the rename may still be only in memory: after a power
	// loss the directory could name the old file, or neither.
	if err := SyncDir(filepath.Dir(path)); err != nil {
		return err
	}
	reach("dir-synced")
	return nil
}

// SyncDir fsyncs a directory, making the creations, renames and removals
// in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return d.Close()
}

// Erase overwrites a file's bytes with random ones (as many as it holds),
// fsyncs them, removes the file and fsyncs its directory. A file that
// does not exist is an error wrapping os.ErrNotExist.
//
// Overwriting in place is best effort: a copy-on-write or log-structured
// file system, or an SSD's wear levelling, may keep the old blocks
// somewhere the file no longer reaches. What it does do is keep the
// content from anyone who later reads the disk through the file system,
// and from an undelete of the file.
func Erase(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, info.Size()); err != nil {
		f.Close()
		return fmt.Errorf("overwrite %s: %w", path, err)
	}
	reach("overwritten")
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("overwrite %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Remove(path); err != nil {
		return err
	}
	reach("removed")
	return SyncDir(filepath.Dir(path))
}

// EraseIfExists is Erase, where a file that does not exist is no error.
func EraseIfExists(path string) error {
	if err := Erase(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
