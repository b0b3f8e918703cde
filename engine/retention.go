package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/internal/age"
)

// The default retention: the last 200 executions or those of the last 30
// days, whichever keeps more.
const (
	DefaultKeep   = 200
	DefaultMaxAge = 30 * 24 * time.Hour
)

// DefaultRetention is the retention when no configuration sets one.
func DefaultRetention() PruneRule {
	return PruneRule{Keep: DefaultKeep, OlderThan: DefaultMaxAge, Both: true, KeepInterrupted: true}
}

// historySection is the `history:` section of a configuration file.
type historySection struct {
	// Keep is how many of the newest finished executions are kept
	// whatever their age; 0 sets no such floor.
	Keep *int `yaml:"keep"`
	// MaxAge keeps those finished within it ("30d"); "0" sets no limit.
	MaxAge *string `yaml:"maxAge"`
}

// LoadRetention reads the history retention: the default, then the user's
// configuration file's `history:` section, then the workspace's
// .mimir/config.yaml, which may keep more, never less (its author is not
// the user, whose history it would remove). It returns warnings for what
// the workspace asked for and did not get.
func LoadRetention(workspaceDir string) (PruneRule, []string, error) {
	rule := DefaultRetention()
	if path := UserConfigFile(); path != "" {
		user, err := readHistorySection(path, ReadUserConfig)
		if err != nil {
			return rule, nil, err
		}
		if rule, err = user.apply(rule, path); err != nil {
			return rule, nil, err
		}
	}
	if workspaceDir == "" {
		return rule, nil, nil
	}
	where := WorkspaceConfigFile(workspaceDir)
	ws, err := readHistorySection(where, ReadWorkspaceConfig)
	var wsRule PruneRule
	if err == nil {
		wsRule, err = ws.apply(rule, where)
	}
	if err != nil {
		return rule, []string{fmt.Sprintf("⚠️ The history settings in the workspace are ignored: %v", err)}, nil
	}
	var warnings []string
	if keepsMore(wsRule.Keep, rule.Keep) {
		rule.Keep = wsRule.Keep
	} else if wsRule.Keep != rule.Keep {
		warnings = append(warnings, fmt.Sprintf("⚠️ %s asks to keep fewer executions (history.keep: %d) than your configuration does (%d): ignored; only your own configuration (%s) can.", where, wsRule.Keep, rule.Keep, UserConfigFile()))
	}
	if keepsMore(int64(wsRule.OlderThan), int64(rule.OlderThan)) {
		rule.OlderThan = wsRule.OlderThan
	} else if wsRule.OlderThan != rule.OlderThan {
		warnings = append(warnings, fmt.Sprintf("⚠️ %s asks to keep executions for less time (history.maxAge) than your configuration does: ignored; only your own configuration (%s) can.", where, UserConfigFile()))
	}
	return rule, warnings, nil
}

// keepsMore says whether limit a keeps more than b, 0 being no limit.
func keepsMore[T int | int64](a, b T) bool {
	switch {
	case a == b, b == 0:
		return false
	case a == 0:
		return true
	}
	return a > b
}

// apply sets what the section sets over rule.
func (h *historySection) apply(rule PruneRule, file string) (PruneRule, error) {
	if h.Keep != nil {
		if *h.Keep < 0 {
			return rule, fmt.Errorf("%s: history.keep %d must be 0 (no floor) or more", file, *h.Keep)
		}
		rule.Keep = *h.Keep
	}
	if h.MaxAge != nil {
		d, err := age.Parse(strings.TrimSpace(*h.MaxAge))
		if *h.MaxAge == "0" {
			d, err = 0, nil
		}
		if err != nil {
			return rule, fmt.Errorf("%s: history.maxAge: %w", file, err)
		}
		rule.OlderThan = d
	}
	return rule, nil
}

func readHistorySection(path string, read func(string) ([]byte, error)) (*historySection, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &historySection{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the history settings: %w", err)
	}
	var file struct {
		History historySection `yaml:"history"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("read the history settings %s: %w", path, err)
	}
	return &file.History, nil
}

// String says what the rule keeps, for people.
func (p PruneRule) String() string {
	var parts []string
	if p.Keep > 0 {
		parts = append(parts, fmt.Sprintf("the last %d executions", p.Keep))
	}
	if p.OlderThan > 0 {
		parts = append(parts, "those of the last "+formatAge(p.OlderThan))
	}
	switch {
	case len(parts) == 0:
		return "every execution"
	case len(parts) == 1:
		return parts[0]
	case p.Both:
		return parts[0] + " or " + parts[1] + ", whichever keeps more"
	}
	return parts[0] + " and only " + parts[1]
}

func formatAge(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

// retainInBackground applies rule to the history now and again each time
// an execution ends, until Close. What it removes is logged.
func (r *Runner) retainInBackground(rule PruneRule) {
	r.retainStop, r.retainDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(r.retainDone)
		for {
			ids, freed, err := r.pruneBy(r.ctx, rule)
			switch {
			case errors.Is(err, ErrClosed):
				return
			case err != nil:
				r.log.Warn("apply the history retention; it is tried again when an execution ends", "keeps", rule.String(), "err", err)
			case len(ids) > 0 || freed.Blobs > 0:
				r.log.Info("the history retention removed executions, with their files", "removed", len(ids), "blobs", freed.Blobs, "bytes", freed.Bytes, "keeps", rule.String())
			}
			select {
			case <-r.retainStop:
				return
			case <-r.retain:
			}
		}
	}()
}
