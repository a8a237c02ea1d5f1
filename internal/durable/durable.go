// Package durable writes files that survive a crash whole or not at all:
// the data goes to a temporary file beside the target, is fsynced, and is
// renamed into place. A reader never sees half a file.
package durable

import "os"

// WriteFile writes data to path durably with the given mode.
func WriteFile(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
