package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Mimir's POST /api/execute-workflow is refused unless the user turns it
// on: with --http-execute, or httpExecute: true in their own configuration
// (never the workspace's).
func TestHTTPExecuteIsTheUsersChoice(t *testing.T) {
	for _, c := range []struct {
		name       string
		flag       bool
		userConfig string
		wsConfig   string
		want       int
	}{
		{name: "default", want: http.StatusForbidden},
		{name: "flag", flag: true, want: http.StatusOK},
		{name: "user configuration", userConfig: "httpExecute: true\n", want: http.StatusOK},
		{name: "workspace configuration", wsConfig: "httpExecute: true\n", want: http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			home, ws := t.TempDir(), t.TempDir()
			if c.userConfig != "" {
				os.MkdirAll(filepath.Join(home, "mimir"), 0o755)
				os.WriteFile(filepath.Join(home, "mimir", "config.yaml"), []byte(c.userConfig), 0o644)
			}
			if c.wsConfig != "" {
				os.MkdirAll(filepath.Join(ws, ".mimir"), 0o755)
				os.WriteFile(filepath.Join(ws, ".mimir", "config.yaml"), []byte(c.wsConfig), 0o644)
			}
			os.WriteFile(filepath.Join(ws, "slow.yaml"), []byte("name: slow\ntasks:\n  - {id: a, worker: {command: 'sleep 1'}}\n"), 0o644)
			args := []string{"run", "slow.yaml", "--sse", "--no-save"}
			if c.flag {
				args = append(args, "--http-execute")
			}
			cmd := exec.Command(bin, args...)
			cmd.Dir = ws
			// An llm endpoint nobody listens on: the execution starts, and
			// fails on its own.
			cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+home, "MIMIR_LLM_BASE_URL=http://127.0.0.1:1/v1", "MIMIR_LLM_MODEL=m")
			stderr, _ := cmd.StderrPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			line := regexp.MustCompile(`📡 SSE: (http://127\.0\.0\.1:\d+)/events \(token (\w+)`)
			var url, token string
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if m := line.FindStringSubmatch(sc.Text()); m != nil {
					url, token = m[1], m[2]
					break
				}
			}
			if url == "" {
				t.Fatal("run --sse printed no SSE address")
			}
			go func() {
				for sc.Scan() {
				}
			}()
			req, _ := http.NewRequest("POST", url+"/api/execute-workflow?token="+token, strings.NewReader(`{"tasks":[{"id":"t","title":"T","agentRoleDescription":"r","prompt":"p"}]}`))
			resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("POST /api/execute-workflow: %s, want %d", resp.Status, c.want)
			}
		})
	}
}

func TestHTTPExecuteConfigMustBeABool(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	os.MkdirAll(filepath.Join(home, "mimir"), 0o755)
	os.WriteFile(filepath.Join(home, "mimir", "config.yaml"), []byte("httpExecute: sometimes\n"), 0o644)
	if _, err := httpExecute(false); err == nil || !strings.Contains(err.Error(), "true or false") {
		t.Errorf("httpExecute: sometimes: %v, want an error saying what to write", err)
	}
}
