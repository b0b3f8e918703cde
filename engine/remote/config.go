package remote

import (
	"errors"
	"fmt"
	"io/fs"

	"go.yaml.in/yaml/v3"

	"github.com/mimir-sidecar/mimir-sidecar/engine"
)

// LoadConfig reads the cluster section of the user's configuration and of
// the workspace's (.mimir/config.yaml); flags given on the command line
// win over both. The workspace's file comes with the repository, so it may
// only name the server and the prefix: credentials, a token's variable and
// the CAs to trust are the user's to give (a cloned repository naming an
// environment variable as the "token" would have its value sent to the
// server it chose). It returns warnings for what it ignored.
func LoadConfig(workspaceDir string, flags Config) (Config, []string, error) {
	var c Config
	if path := engine.UserConfigFile(); path != "" {
		user, err := readCluster(path, engine.ReadUserConfig)
		if err != nil {
			return c, nil, err
		}
		c = user
	}
	var warnings []string
	if workspaceDir != "" {
		path := engine.WorkspaceConfigFile(workspaceDir)
		ws, err := readCluster(path, engine.ReadWorkspaceConfig)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("⚠️ %v: its cluster section is ignored.", err))
		} else {
			if ws.URL != "" {
				c.URL = ws.URL
			}
			if ws.Prefix != "" {
				c.Prefix = ws.Prefix
			}
			if ws.Credentials != "" || ws.TokenEnv != "" || ws.CA != "" {
				warnings = append(warnings, fmt.Sprintf("⚠️ %s: cluster.credentials, tokenEnv and ca are taken only from your own configuration (%s), not from the workspace's; they are ignored.", path, engine.UserConfigFile()))
			}
		}
	}
	if flags.URL != "" {
		c.URL = flags.URL
	}
	if flags.Prefix != "" {
		c.Prefix = flags.Prefix
	}
	if c.URL != "" && c.Prefix == "" {
		c.Prefix = DefaultPrefix(workspaceDir)
	}
	return c, warnings, nil
}

func readCluster(path string, read func(string) ([]byte, error)) (Config, error) {
	data, err := read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Config{}, nil
	}
	if err != nil {
		return Config{}, err
	}
	var doc struct {
		Cluster Config `yaml:"cluster"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, fmt.Errorf("%s: cluster: %w", path, err)
	}
	return doc.Cluster, nil
}
