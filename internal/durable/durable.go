package durable

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// SectorLen is the unit a disk writes whole: bytes rewritten in place
// within one are never torn by a crash.
const SectorLen = 512

// Replace makes path hold b, atomically: a temporary file, fsynced, renamed
// over path, then the directory fsynced. It returns the new file, still
// open, for RewriteAt; the caller closes it.
func Replace(path string, b []byte) (*os.File, error) {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		f.Close()
		os.Remove(tmp)
		return nil, err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return f, nil
}

// RewriteAt overwrites len(b) bytes of f at off and makes them durable.
// The bytes must lie within one sector, so that a crash leaves the old
// ones or the new ones, never a mix; the file's size must not change, so
// fdatasync writes the page alone, not the inode.
func RewriteAt(f *os.File, b []byte, off int64) error {
	if len(b) == 0 || off/SectorLen != (off+int64(len(b))-1)/SectorLen {
		return fmt.Errorf("rewrite %s: %d bytes at %d cross a sector", f.Name(), len(b), off)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		return err
	}
	return unix.Fdatasync(int(f.Fd()))
}

// WriteFile makes path hold b (created or truncated) and fsyncs it.
func WriteFile(path string, b []byte) error {
	return write(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, b)
}

// Append appends b to path (created if missing) and fsyncs it.
func Append(path string, b []byte) error {
	return write(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, b)
}

func write(path string, flag int, b []byte) error {
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
