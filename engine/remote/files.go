package remote

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
	"github.com/mimir-sidecar/mimir-sidecar/internal/pathname"
	"github.com/mimir-sidecar/mimir-sidecar/internal/safefile"
)

// Bounds on what one attempt moves.
const (
	maxFileSize   = 1 << 30
	maxInputFiles = 10000
	maxInputBytes = 256 << 20
)

// fileRef is a file of an attempt: its path, its sha256 (which also names
// its object in the bucket), its size and whether it is executable.
type fileRef struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	Exec   bool   `json:"exec,omitempty"`
}

// store is the files bucket, with what is known to be in it.
type store struct {
	obs   jetstream.ObjectStore
	known sync.Map // sha256 → true
}

// list hashes the regular files in dir (links are not followed), their
// paths prefixed with under; skip leaves out the top-level names it
// returns true for.
func list(dir, under string, skip func(top string) bool) ([]fileRef, error) {
	root, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var refs []fileRef
	var total int64
	err = engine.WalkRegular(root, func(p string) error {
		top, _, _ := strings.Cut(p, "/")
		if skip != nil && skip(top) {
			return nil
		}
		f, info, err := safefile.OpenNoFollow(root, p)
		if safefile.IsNotRegular(err) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, io.LimitReader(f, maxFileSize+1))
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if n > maxFileSize {
			return fmt.Errorf("%s is larger than %d bytes, more than an attempt moves", p, maxFileSize)
		}
		total += n
		if len(refs) >= maxInputFiles || total > maxInputBytes {
			return fmt.Errorf("%s holds more than %d files or %d bytes, more than an attempt moves: give the workflow a folder of its own", dir, maxInputFiles, maxInputBytes)
		}
		refs = append(refs, fileRef{Path: path.Join(under, p), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n, Exec: info.Mode().Perm()&0o100 != 0})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return refs, nil
}

// upload puts into the bucket each file of refs (read from dir, by the
// path with under cut off) that is not there yet.
func (s *store) upload(ctx context.Context, dir, under string, refs []fileRef) error {
	return whileAway(ctx, func() error { return s.uploadOnce(ctx, dir, under, refs) })
}

// whileAway runs f again while it fails because NATS is away (a server
// restarting), until ctx is done: an attempt does not fail for that.
func whileAway(ctx context.Context, f func() error) error {
	for {
		err := f()
		if err == nil || !away(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// away reports whether err is NATS being unreachable or not answering,
// rather than an answer.
func away(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrDisconnected) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoHeartbeat) ||
		errors.Is(err, nats.ErrConnectionReconnecting)
}

func (s *store) uploadOnce(ctx context.Context, dir, under string, refs []fileRef) error {
	if len(refs) == 0 {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, r := range refs {
		if _, ok := s.known.Load(r.SHA256); ok {
			continue
		}
		if _, err := s.obs.GetInfo(ctx, r.SHA256); err == nil {
			s.known.Store(r.SHA256, true)
			continue
		} else if !errors.Is(err, jetstream.ErrObjectNotFound) {
			return fmt.Errorf("upload %s: %w", r.Path, err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(r.Path, under), "/")
		f, _, err := safefile.OpenNoFollow(root, rel)
		if err != nil {
			return fmt.Errorf("upload %s: %w", r.Path, err)
		}
		_, err = s.obs.Put(ctx, jetstream.ObjectMeta{Name: r.SHA256}, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("upload %s: %w", r.Path, err)
		}
		s.known.Store(r.SHA256, true)
	}
	return nil
}

// folder is where files are written: an os.Root, or the state folder's
// handle (statedir.Dir), which refuses links.
type folder interface {
	MkdirAll(name string, perm fs.FileMode) error
	OpenFile(name string, flag int, perm fs.FileMode) (*os.File, error)
	Rename(oldname, newname string) error
	Remove(name string) error
}

// fetch writes the file ref names, as name in dest: to a temporary file
// first, renamed into place once its sha256 and size are checked, so a
// damaged or substituted object never lands.
func (s *store) fetch(ctx context.Context, dest folder, name string, ref fileRef) error {
	if err := checkPath(name); err != nil {
		return err
	}
	return whileAway(ctx, func() error { return s.fetchOnce(ctx, dest, name, ref) })
}

func (s *store) fetchOnce(ctx context.Context, dest folder, name string, ref fileRef) error {
	if dir := path.Dir(name); dir != "." {
		if err := dest.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("fetch %s: %w", name, err)
		}
	}
	obj, err := s.obs.Get(ctx, ref.SHA256)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", name, err)
	}
	defer obj.Close()
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), ".mimir-fetch-"+hex.EncodeToString(rnd[:]))
	perm := fs.FileMode(0o644)
	if ref.Exec {
		perm = 0o755
	}
	f, err := dest.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(obj, maxFileSize+1))
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && (n != ref.Size || hex.EncodeToString(h.Sum(nil)) != ref.SHA256) {
		err = fmt.Errorf("its content does not match its sha256 %s: the object is damaged or was replaced", ref.SHA256)
	}
	if err == nil {
		err = dest.Rename(tmp, name)
	}
	if err != nil {
		_ = dest.Remove(tmp)
		return fmt.Errorf("fetch %s: %w", name, err)
	}
	return nil
}

// checkPath refuses a path that is not a clean relative name.
func checkPath(p string) error {
	if err := pathname.Check(p); err != nil {
		return fmt.Errorf("file %q: %w", p, err)
	}
	return nil
}
