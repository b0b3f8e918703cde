package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// sandboxSection is the `sandbox:` section of a configuration file: a
// mode alone (`sandbox: required`) or a mapping.
type sandboxSection struct {
	Mode             string   `yaml:"mode"`
	Network          string   `yaml:"network"`
	AllowWorkflowOff *bool    `yaml:"allowWorkflowOff"`
	Write            []string `yaml:"write"`
	Endpoints        []string `yaml:"endpoints"`
}

var sandboxSectionKeys = []string{"mode", "network", "allowWorkflowOff", "write", "endpoints"}

func (s *sandboxSection) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Mode = n.Value
		return nil
	}
	if n.Kind == yaml.MappingNode {
		// A misspelt setting is an error, not a default that silently
		// stays: these are the settings that fence what agents do.
		for i := 0; i < len(n.Content); i += 2 {
			if k := n.Content[i]; !slices.Contains(sandboxSectionKeys, k.Value) {
				return fmt.Errorf("line %d: sandbox has no setting %q (known: %s)", k.Line, k.Value, strings.Join(sandboxSectionKeys, ", "))
			}
		}
	}
	type plain sandboxSection
	return n.Decode((*plain)(s))
}

var userSandboxModes = []string{"task-write", SandboxRequired, "off"}

// LoadSandboxSettings reads the sandbox settings: the user's configuration
// file's `sandbox:` section, tightened — never loosened — by the
// workspace's .mimir/config.yaml, which the repository's author wrote.
// endpoints are the configured model endpoints (the llm providers' base
// URLs) that `network: endpoints` allows besides the user's own list. It
// returns warnings for what the workspace asked for and did not get.
func LoadSandboxSettings(workspaceDir string, endpoints []string) (SandboxSettings, []string, error) {
	var s SandboxSettings
	if path := UserConfigFile(); path != "" {
		user, err := readSandboxSection(path, ReadUserConfig)
		if err != nil {
			return s, nil, err
		}
		if err := user.check(path); err != nil {
			return s, nil, err
		}
		s.Source = path
		s.Mode, s.Network = user.Mode, sandbox.Network(user.Network)
		s.AllowWorkflowOff = user.AllowWorkflowOff != nil && *user.AllowWorkflowOff
		for _, w := range user.Write {
			dir, err := expandHome(w)
			if err != nil {
				return s, nil, fmt.Errorf("%s: sandbox.write %q: %w", path, w, err)
			}
			s.Write = append(s.Write, dir)
		}
		s.Endpoints = append(s.Endpoints, user.Endpoints...)
	}
	s.Endpoints = append(s.Endpoints, endpoints...)
	if workspaceDir == "" {
		return s, nil, nil
	}
	where := WorkspaceConfigFile(workspaceDir)
	// The workspace's file can only tighten the fence, so one that cannot
	// be read is ignored, with a warning: its author must not be able to
	// keep the sidecar from starting.
	ws, err := readSandboxSection(where, ReadWorkspaceConfig)
	if err == nil {
		err = ws.check(where)
	}
	if err != nil {
		return s, []string{fmt.Sprintf("⚠️ The sandbox settings in the workspace are ignored: %v", err)}, nil
	}
	// The workspace may ask for a stricter fence, never a looser one.
	var warnings []string
	if ws.Mode == SandboxRequired && s.Mode != "off" {
		s.Mode, s.Source = SandboxRequired, where
	}
	s.Network = stricter(s.Network, sandbox.Network(ws.Network))
	var ignored []string
	if ws.Mode == "off" {
		ignored = append(ignored, "mode: off")
	}
	if ws.AllowWorkflowOff != nil && *ws.AllowWorkflowOff {
		ignored = append(ignored, "allowWorkflowOff")
	}
	if len(ws.Write) > 0 {
		ignored = append(ignored, "write")
	}
	if len(ws.Endpoints) > 0 {
		ignored = append(ignored, "endpoints")
	}
	if len(ignored) > 0 {
		warnings = append(warnings, fmt.Sprintf("⚠️ %s asks to loosen the sandbox (%s), which only your own configuration (%s) can do: ignored.", where, strings.Join(ignored, ", "), UserConfigFile()))
	}
	return s, warnings, nil
}

func (c *sandboxSection) check(file string) error {
	if c.Mode != "" && !slices.Contains(userSandboxModes, c.Mode) {
		return fmt.Errorf("%s: sandbox mode %q must be one of %s", file, c.Mode, strings.Join(userSandboxModes, ", "))
	}
	if c.Network != "" && !slices.Contains(networkValues, c.Network) {
		return fmt.Errorf("%s: sandbox network %q must be one of %s", file, c.Network, strings.Join(networkValues, ", "))
	}
	if _, err := endpointPorts(c.Endpoints); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// readSandboxSection reads the sandbox section of the configuration file
// name in (a missing file has none); where names it in messages.
func readSandboxSection(path string, read func(string) ([]byte, error)) (*sandboxSection, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &sandboxSection{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the sandbox settings: %w", err)
	}
	var file struct {
		Sandbox sandboxSection `yaml:"sandbox"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("read the sandbox settings %s: %w", path, err)
	}
	return &file.Sandbox, nil
}

// expandHome makes a writable folder of the user's configuration absolute:
// "~/x" is in their home folder.
func expandHome(p string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		p = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(p) {
		return "", errors.New("must be an absolute path or start with ~/")
	}
	return filepath.Clean(p), nil
}
