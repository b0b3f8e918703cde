// Package safefile opens files that must be regular files without ever
// waiting on what a worker may have put in their place: a named pipe, a
// socket or a device. The sidecar reads files that agents made (to hash,
// save or show them to a model), and an open of a FIFO blocks until a
// writer comes, beyond the reach of any context.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// NotRegularError is the refusal of a file that is not a regular one.
type NotRegularError struct {
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("it is %s, not a regular file", Kind(e.Mode))
}

// IsNotRegular reports whether err refuses a file that is not regular.
func IsNotRegular(err error) bool {
	var nr *NotRegularError
	return errors.As(err, &nr)
}

// Opener is what files are opened through: an *os.Root, confined to a
// folder, or Path for a path already checked.
type Opener interface {
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
}

// Path opens names as they are given.
var Path Opener = pathOpener{}

type pathOpener struct{}

func (pathOpener) OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, flag, perm)
}

// Open opens name for reading if it is a regular file. The open does not
// block, and the file's type is checked on the open file, so a name
// swapped for a pipe after it was listed is refused, never waited on.
func Open(in Opener, name string) (*os.File, fs.FileInfo, error) {
	return OpenFile(in, name, os.O_RDONLY, 0)
}

// OpenFile is Open with flags: for writing, leave O_TRUNC out and
// truncate once the file is known to be regular (a pipe must not be
// written to at all). A pipe without a reader refuses a non-blocking open
// for writing (ENXIO); that is reported as the pipe it is.
func OpenFile(in Opener, name string, flag int, perm fs.FileMode) (*os.File, fs.FileInfo, error) {
	f, err := in.OpenFile(name, flag|nonblock, perm)
	if err != nil {
		if st, serr := statThrough(in, name); serr == nil && !st.Mode().IsRegular() && !st.IsDir() {
			return nil, st, &NotRegularError{Mode: st.Mode()}
		}
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, st, &NotRegularError{Mode: st.Mode()}
	}
	return f, st, nil
}

// statThrough describes name as in sees it: an opener confined to a
// folder (an *os.Root among them) says how by having a Stat of its own.
func statThrough(in Opener, name string) (fs.FileInfo, error) {
	if s, ok := in.(interface {
		Stat(string) (fs.FileInfo, error)
	}); ok {
		return s.Stat(name)
	}
	return os.Stat(name)
}

// Kind names a file's type in words, for messages.
func Kind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsRegular():
		return "a regular file"
	}
	return "a special file"
}

// ErrTooLarge is wrapped by a read of a file larger than its bound.
var ErrTooLarge = errors.New("file too large")

// ReadAtMost reads f to its end, refusing it (with an error wrapping
// ErrTooLarge) past max bytes: a file that grows while it is read is cut
// off at the bound all the same.
func ReadAtMost(f *os.File, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("read %s: %w: more than %d bytes", f.Name(), ErrTooLarge, max)
	}
	return data, nil
}

// WriteFile creates or replaces name in with data, refusing anything that
// is not a regular file before it is truncated or written: a FIFO neither
// hangs the call (waiting for a reader) nor gets written to, and a folder
// is refused as one.
func WriteFile(in Opener, name string, data []byte, perm fs.FileMode) error {
	f, _, err := OpenFile(in, name, os.O_WRONLY|os.O_CREATE, perm)
	if err != nil {
		if errors.Is(err, syscall.EISDIR) {
			return &NotRegularError{Mode: fs.ModeDir}
		}
		return err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
