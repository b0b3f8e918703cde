package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkSpawnInitialize measures what an editor waits for when it starts
// the sidecar: from spawning the process to reading the initialize answer.
// It also reports the idle process's resident memory once it has settled
// after that answer (the work initialize leaves running, the event
// forwarder and the workspace watcher among them, done): all of it, and the
// private part (RssAnon: heap, stacks, SQLite's cache) apart from the
// binary's own pages, which are shared and reclaimable.
func BenchmarkSpawnInitialize(b *testing.B) {
	ws := b.TempDir()
	sidecar := installedCopy(b)
	var took []time.Duration
	var rssKB, anonKB []int
	for range b.N {
		start := time.Now()
		cmd := exec.Command(sidecar, "--workspace", ws)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
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
		pid := cmd.Process.Pid
		rss, ok := settledRSS(pid, time.Second)
		if !ok {
			b.Logf("spawn %d: resident memory still changing after 1s; took the last reading", len(took))
		}
		rssKB = append(rssKB, rss)
		anonKB = append(anonKB, procStatus(pid, "RssAnon:"))
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

// installedCopy copies the sidecar the way an installer (or an unzipped
// extension) puts it on disk: written, not memory-mapped. The linker writes
// its output through a memory map, and the pages of a file written so are
// mapped more eagerly when it runs: the same binary measured 1 to 1.7 MB
// more resident than its copy, a figure set by how the file was written
// rather than by the code.
func installedCopy(b *testing.B) string {
	b.Helper()
	src, err := os.Open(bin)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(b.TempDir(), "mimir-sidecar")
	dst, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// settledRSS polls a process's VmRSS until it has not changed for a while
// (the process is idle), or until limit has passed; ok says it settled.
// Reading it at once would miss what the process does right after its
// answer is out.
func settledRSS(pid int, limit time.Duration) (kb int, ok bool) {
	const poll, still = 2 * time.Millisecond, 25 // 50 ms without a change
	tick := time.NewTicker(poll)
	defer tick.Stop()
	deadline := time.Now().Add(limit)
	last, same := procStatus(pid, "VmRSS:"), 0
	for same < still {
		if time.Now().After(deadline) {
			return last, false
		}
		<-tick.C
		if kb := procStatus(pid, "VmRSS:"); kb == last {
			same++
		} else {
			last, same = kb, 0
		}
	}
	return last, true
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
