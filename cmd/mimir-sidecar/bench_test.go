package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSpawnInitialize measures what an editor waits for when it starts
// the sidecar: from spawning the process to reading the initialize answer.
// It also reports the idle process's resident memory right after: all of
// it, and the private part (RssAnon: heap, stacks, SQLite's cache) apart
// from the binary's own pages, which are shared and reclaimable.
func BenchmarkSpawnInitialize(b *testing.B) {
	ws := b.TempDir()
	var took []time.Duration
	var rssKB, anonKB []int
	for range b.N {
		start := time.Now()
		cmd := exec.Command(bin, "--workspace", ws)
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}`
		fmt.Fprintf(stdin, "Content-Length: %d\r\n\r\n%s", len(body), body)
		br := bufio.NewReader(stdout)
		var n int
		if _, err := fmt.Fscanf(br, "Content-Length: %d\r\n\r\n", &n); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(br, make([]byte, n)); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
		rssKB = append(rssKB, procStatus(cmd.Process.Pid, "VmRSS:"))
		anonKB = append(anonKB, procStatus(cmd.Process.Pid, "RssAnon:"))
		stdin.Close()
		cmd.Wait()
	}
	slices.Sort(took)
	slices.Sort(rssKB)
	slices.Sort(anonKB)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(rssKB[len(rssKB)/2])/1024, "idle-RSS-MB")
	b.ReportMetric(float64(anonKB[len(anonKB)/2])/1024, "idle-private-MB")
}

// procStatus reads one of /proc/<pid>/status's kB figures.
func procStatus(pid int, field string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			var kb int
			fmt.Sscan(rest, &kb)
			return kb
		}
	}
	return 0
}
