package workspace

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a burst of changes to one file (an editor's save, a
// git checkout) is let finish before it is reported once.
const settle = 100 * time.Millisecond

// Watcher reports workflow files that change on disk, whoever changes them.
type Watcher struct {
	ws      *Workspace
	fsw     *fsnotify.Watcher
	changed func(rel string)
	log     *slog.Logger
	done    chan struct{}
	wg      sync.WaitGroup
}

// Watch calls changed (from one goroutine, in no particular order) with the
// workspace-relative path of each workflow file created, written, renamed or
// removed, until Close. New folders are watched as they appear.
func (w *Workspace) Watch(log *slog.Logger, changed func(rel string)) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	wt := &Watcher{ws: w, fsw: fsw, changed: changed, log: log, done: make(chan struct{})}
	wt.addTree(w.dir)
	wt.wg.Add(1)
	go wt.loop()
	return wt, nil
}

// Close stops watching and waits for the watcher's goroutine.
func (wt *Watcher) Close() error {
	close(wt.done)
	err := wt.fsw.Close()
	wt.wg.Wait()
	return err
}

func (wt *Watcher) addTree(root string) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if !wt.ws.watchable(p) {
			return filepath.SkipDir
		}
		if err := wt.fsw.Add(p); err != nil {
			wt.log.Debug("watch folder", "dir", p, "err", err)
		}
		return nil
	})
}

func (wt *Watcher) loop() {
	defer wt.wg.Done()
	pending := map[string]bool{}
	timer := time.NewTimer(settle)
	timer.Stop()
	for {
		select {
		case <-wt.done:
			timer.Stop()
			return
		case ev, ok := <-wt.fsw.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Lstat(ev.Name); err == nil && st.IsDir() { // a link to a folder is not walked into
					wt.addTree(ev.Name)
					continue
				}
			}
			rel, err := filepath.Rel(wt.ws.dir, ev.Name)
			if err != nil || !IsWorkflowFile(filepath.ToSlash(rel)) {
				continue
			}
			pending[filepath.ToSlash(rel)] = true
			timer.Reset(settle)
		case <-timer.C:
			for rel := range pending {
				wt.changed(rel)
			}
			clear(pending)
		case err, ok := <-wt.fsw.Errors:
			if !ok {
				return
			}
			wt.log.Warn("watching the workspace", "err", err)
		}
	}
}
