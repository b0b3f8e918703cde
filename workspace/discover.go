package workspace

import (
	"context"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
)

// Folders never searched for workflows: they hold other people's files or
// the sidecar's own.
var skipDirs = map[string]bool{
	".git": true, ".hg": true, ".svn": true, ".mimir": true, "node_modules": true,
	"vendor": true, "deliverables": true, ".build": true, "dist": true,
}

const (
	maxWorkflowDepth = 8
	maxWorkflows     = 1000
)

// IsWorkflowFile reports whether rel (slash-separated, relative to the
// workspace) is named like a workflow: *.mimir.{yaml,yml,json},
// workflow.{yaml,yml,json}, or any YAML or JSON file in a workflows/ folder
// other than GitHub Actions' .github/workflows/.
func IsWorkflowFile(rel string) bool {
	base := path.Base(rel)
	ext := path.Ext(base)
	if ext != ".yaml" && ext != ".yml" && ext != ".json" {
		return false
	}
	stem := strings.TrimSuffix(base, ext)
	if stem == "workflow" || strings.HasSuffix(stem, ".mimir") {
		return true
	}
	dir := path.Dir(rel)
	return path.Base(dir) == "workflows" && path.Base(path.Dir(dir)) != ".github"
}

// FindWorkflows lists the workflow files in the workspace, slash-separated
// and relative to it, in walk order; it stops at a bounded depth and count
// so a huge workspace cannot stall it.
func (w *Workspace) FindWorkflows(ctx context.Context) ([]string, error) {
	var found []string
	err := filepath.WalkDir(w.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == w.dir {
				return err
			}
			return nil // an unreadable folder is not the user's workflow
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rel, _ := filepath.Rel(w.dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if p != w.dir && (skipDirs[d.Name()] || strings.Count(rel, "/") >= maxWorkflowDepth) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && IsWorkflowFile(rel) {
			found = append(found, rel)
			if len(found) == maxWorkflows {
				return filepath.SkipAll
			}
		}
		return nil
	})
	return found, err
}

// watchable reports whether a folder is worth watching for workflows.
func (w *Workspace) watchable(dir string) bool {
	rel, err := filepath.Rel(w.dir, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	if rel == "." {
		return true
	}
	rel = filepath.ToSlash(rel)
	for _, e := range strings.Split(rel, "/") {
		if skipDirs[e] {
			return false
		}
	}
	return strings.Count(rel, "/") < maxWorkflowDepth
}
