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
// It also reports the idle process's resident memory right after.
func BenchmarkSpawnInitialize(b *testing.B) {
	ws := b.TempDir()
	var took []time.Duration
	var rssKB []int
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
		rssKB = append(rssKB, vmRSS(cmd.Process.Pid))
		stdin.Close()
		cmd.Wait()
	}
	slices.Sort(took)
	slices.Sort(rssKB)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(rssKB[len(rssKB)/2])/1024, "idle-RSS-MB")
}

func vmRSS(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			var kb int
			fmt.Sscan(rest, &kb)
			return kb
		}
	}
	return 0
}
