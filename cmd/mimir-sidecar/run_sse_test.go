package main

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// run --sse mirrors the run on a local port: its address and token are
// printed, and an allowed browser origin gets in where another does not.
func TestRunSSE(t *testing.T) {
	ws := t.TempDir()
	wf := "name: slow\ntasks:\n  - {id: a, worker: {command: 'sleep 2; echo done > out.txt'}}\n"
	os.WriteFile(filepath.Join(ws, "slow.yaml"), []byte(wf), 0o644)
	cmd := exec.Command(bin, "run", "slow.yaml", "--sse", "--sse-allow-origin", "http://dash.example")
	cmd.Dir = ws
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
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
	get := func(origin string) *http.Response {
		req, _ := http.NewRequest("GET", url+"/executions", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := get("http://dash.example"); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") != "http://dash.example" {
		t.Errorf("allowed origin: %d, CORS %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := get("http://evil.example"); r.StatusCode != 403 {
		t.Errorf("foreign origin: %d, want 403", r.StatusCode)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("run --sse: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, ".mimir", "sidecar.json")); !os.IsNotExist(err) {
		t.Errorf("sidecar.json left behind after the run: %v", err)
	}
}
