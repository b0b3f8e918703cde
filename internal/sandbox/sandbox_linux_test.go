package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The test binary doubles as a launcher: with envPolicy set it applies the
// policy to itself, then runs the command in envArgv and exits with its
// status — what internal/launcher does for a task's command.
const (
	envPolicy = "MIMIR_SANDBOX_TEST_POLICY"
	envArgv   = "MIMIR_SANDBOX_TEST_ARGV"
	envDial   = "MIMIR_SANDBOX_TEST_DIAL"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(envPolicy); spec != "" {
		os.Exit(launch(spec, os.Getenv(envArgv)))
	}
	if addr := os.Getenv(envDial); addr != "" {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
		c.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func launch(spec, argvJSON string) int {
	var p Policy
	var argv []string
	if err := json.Unmarshal([]byte(spec), &p); err != nil {
		fmt.Fprintln(os.Stderr, "policy:", err)
		return 125
	}
	if err := json.Unmarshal([]byte(argvJSON), &argv); err != nil {
		fmt.Fprintln(os.Stderr, "argv:", err)
		return 125
	}
	if err := p.Apply(); err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		return 124
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	os.Unsetenv(envPolicy)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "run:", err)
		return 126
	}
	return 0
}

// fenced runs argv under p in a fresh launcher process and returns its
// combined output and error.
func fenced(t *testing.T, p Policy, env []string, argv ...string) (string, error) {
	t.Helper()
	spec, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	args, _ := json.Marshal(argv)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPolicy+"="+string(spec), envArgv+"="+string(args))
	cmd.Env = append(cmd.Env, env...)
	if p.Temp != "" {
		cmd.Env = append(cmd.Env, "TMPDIR="+p.Temp)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// sh runs script under p with args as $1, $2, …
func sh(t *testing.T, p Policy, script string, args ...string) (string, error) {
	t.Helper()
	return fenced(t, p, nil, append([]string{"/bin/sh", "-c", script, "sh"}, args...)...)
}

func needLandlock(t *testing.T) {
	t.Helper()
	if Available() < abiNetwork {
		t.Skipf("Landlock ABI %d: these tests need 4 or later", Available())
	}
}

type dirs struct{ task, temp, outside string }

func newDirs(t *testing.T) dirs {
	root := t.TempDir()
	d := dirs{filepath.Join(root, "task"), filepath.Join(root, "tmp"), filepath.Join(root, "outside")}
	for _, dir := range []string{d.task, d.temp, d.outside} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func (d dirs) policy(mode Mode) Policy {
	return Policy{Mode: mode, Dir: d.task, Temp: d.temp}
}

func TestTaskWriteLetsOrdinaryToolsWork(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	out, err := sh(t, d.policy(TaskWrite), `set -e
echo hi > "$1/a"; mkdir "$1/sub"; mv "$1/a" "$1/sub/b"; rm "$1/sub/b"; rmdir "$1/sub"
f=$(mktemp); echo x > "$f"; mv "$f" "$1/moved"; ln -s moved "$1/link"
echo x >/dev/null; cat /etc/hostname >/dev/null; git --version >/dev/null
echo to-stdout > /dev/stdout; echo to-stderr >/proc/self/fd/2
python3 -c 'import tempfile,sys; f=tempfile.NamedTemporaryFile(); f.write(b"x"); open(sys.argv[1]+"/py","w").write("y")' "$1"`, d.task)
	if err != nil {
		t.Fatalf("writes inside the fence failed: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(d.task, "py")); err != nil || string(b) != "y" {
		t.Fatalf("python's file: %q, %v", b, err)
	}
}

func TestTaskWriteRefusesWritesOutside(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	home, err := os.UserHomeDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(d.outside, filepath.Join(d.task, "out")); err != nil {
		t.Fatal(err)
	}
	for name, target := range map[string]string{
		"outside folder":     filepath.Join(d.outside, "x"),
		"home":               filepath.Join(home, ".mimir-sandbox-test-"+strconv.Itoa(os.Getpid())),
		"tmp":                filepath.Join(os.TempDir(), "mimir-sandbox-test-"+strconv.Itoa(os.Getpid())),
		"symlink in its dir": filepath.Join(d.task, "out", "x"),
	} {
		t.Run(name, func(t *testing.T) {
			out, err := sh(t, d.policy(TaskWrite), `echo x > "$1"`, target)
			if err == nil {
				os.Remove(target)
				t.Fatalf("wrote %s outside the fence\n%s", target, out)
			}
			if !strings.Contains(out, "Permission denied") {
				t.Fatalf("want EACCES, got %v\n%s", err, out)
			}
			if _, err := os.Lstat(target); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s exists: %v", target, err)
			}
		})
	}
}

func TestChildrenAreFencedToo(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	for name, script := range map[string]string{
		"forked":  `(echo x > "$1/forked") & wait $!`,
		"setsid":  `setsid -w sh -c 'echo x > "$1/setsid"' sh "$1"`,
		"nohup'd": `nohup sh -c 'echo x > "$1/nohup"' sh "$1" </dev/null >/dev/null 2>"$2/err"; cat "$2/err" >&2; exit 1`,
	} {
		t.Run(name, func(t *testing.T) {
			out, _ := sh(t, d.policy(TaskWrite), script, d.outside, d.temp)
			if entries, _ := os.ReadDir(d.outside); len(entries) > 0 {
				t.Fatalf("a child wrote outside the fence: %v\n%s", entries, out)
			}
			if !strings.Contains(out, "Permission denied") {
				t.Fatalf("want EACCES, got\n%s", out)
			}
		})
	}
}

func TestReadOnlyWritesOnlyItsTemp(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	p := d.policy(ReadOnly)
	out, err := sh(t, p, `echo x > "$1/x"`, d.task)
	if err == nil || !strings.Contains(out, "Permission denied") {
		t.Fatalf("read-only wrote its task folder: %v\n%s", err, out)
	}
	if out, err := sh(t, p, `f=$(mktemp) && echo x > "$f" && cat "$1/../task/." 2>/dev/null; ls "$1" >/dev/null`, d.task); err != nil {
		t.Fatalf("read-only could not use its temp or read: %v\n%s", err, out)
	}
}

func TestNetwork(t *testing.T) {
	needLandlock(t)
	allowed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer allowed.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	port := uint16(allowed.Addr().(*net.TCPAddr).Port)
	d := newDirs(t)
	dial := func(p Policy, addr string) (string, error) {
		return fenced(t, p, []string{envDial + "=" + addr}, os.Args[0])
	}
	p := d.policy(TaskWrite)
	if out, err := dial(p, allowed.Addr().String()); err != nil {
		t.Fatalf("network allow refused a connect: %v\n%s", err, out)
	}
	p.Network = NetworkDeny
	if out, err := dial(p, allowed.Addr().String()); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("network deny let a connect through: %v\n%s", err, out)
	}
	p.Network, p.ConnectPorts = NetworkEndpoints, []uint16{port}
	if out, err := dial(p, allowed.Addr().String()); err != nil {
		t.Fatalf("network endpoints refused the endpoint's port: %v\n%s", err, out)
	}
	if out, err := dial(p, other.Addr().String()); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("network endpoints let a connect to another port through: %v\n%s", err, out)
	}
}

func TestFencedProcessCannotSignalOutside(t *testing.T) {
	if Available() < abiScoped {
		t.Skipf("Landlock ABI %d: signal scoping needs %d", Available(), abiScoped)
	}
	d := newDirs(t)
	out, err := sh(t, d.policy(TaskWrite), `kill -0 "$1"`, strconv.Itoa(os.Getpid()))
	if err == nil {
		t.Fatalf("a fenced process could signal the sidecar\n%s", out)
	}
}

func TestApplyRefusesAFolderThatIsASymlink(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(d.outside, link); err != nil {
		t.Fatal(err)
	}
	p := d.policy(TaskWrite)
	p.Dir = link
	out, err := sh(t, p, `true`)
	if err == nil || !strings.Contains(out, "not a folder") {
		t.Fatalf("want a refusal, got %v\n%s", err, out)
	}
}

// The user's own writable folders are writable, and one that does not
// exist yet is no error.
func TestUserWritableFolders(t *testing.T) {
	needLandlock(t)
	d := newDirs(t)
	p := d.policy(TaskWrite)
	p.Write = []string{d.outside, filepath.Join(d.outside, "not-yet")}
	if out, err := sh(t, p, `echo x > "$1/x"`, d.outside); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestConfigWithoutLandlock(t *testing.T) {
	p := Policy{Mode: TaskWrite, Dir: "/x", Temp: "/y"}
	if _, err := p.config(0); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a required policy without Landlock: %v", err)
	}
	p.BestEffort = true
	if cfg, err := p.config(0); cfg != nil || err != nil {
		t.Fatalf("a best-effort policy without Landlock: %v, %v", cfg, err)
	}
	p = Policy{Mode: TaskWrite, Network: NetworkDeny}
	if _, err := p.config(3); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("network deny on ABI 3: %v", err)
	}
	p.BestEffort = true
	if cfg, err := p.config(3); err != nil || cfg.HandledAccessNet != 0 {
		t.Fatalf("best-effort network deny on ABI 3: %v, %v", cfg, err)
	}
}

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		p    Policy
		want string
	}{
		{Policy{Mode: TaskWrite, Dir: "/s/t1", Temp: "/tmp/x"}, "the sandbox (task-write) lets this task write only /s/t1 and its temp folder"},
		{Policy{Mode: ReadOnly, Dir: "/s/t1", Temp: "/tmp/x"}, "the sandbox (read-only) lets this task write only its temp folder"},
		{Policy{Mode: Off}, ""},
		{Policy{Mode: TaskWrite, Dir: "/s/t1", Temp: "/tmp/x", Network: NetworkDeny}, "the sandbox (task-write, network deny) lets this task write only /s/t1 and its temp folder, and open no TCP connection"},
		{Policy{Mode: ReadOnly, Temp: "/tmp/x", Network: NetworkEndpoints, ConnectPorts: []uint16{443, 11434}}, "the sandbox (read-only, network endpoints) lets this task write only its temp folder, and connect only to TCP ports 443, 11434 (the model endpoints')"},
	} {
		if got := c.p.Explain(); got != c.want {
			t.Errorf("%+v: got %q, want %q", c.p, got, c.want)
		}
	}
	if got := (Policy{Mode: TaskWrite, Network: NetworkDeny}).String(); got != "task-write, network deny" {
		t.Errorf("String: %q", got)
	}
}

// BenchmarkFencedCommand compares a command started through a launcher
// that applies a policy with one started directly: what the fence costs
// per command run (the launcher's re-execution included).
func BenchmarkFencedCommand(b *testing.B) {
	root := b.TempDir()
	d := dirs{filepath.Join(root, "task"), filepath.Join(root, "tmp"), ""}
	for _, dir := range []string{d.task, d.temp} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, p *Policy) {
		for b.Loop() {
			var cmd *exec.Cmd
			if p == nil {
				cmd = exec.Command("/bin/true")
			} else {
				spec, _ := json.Marshal(p)
				cmd = exec.Command(os.Args[0], "-test.run=^$")
				cmd.Env = append(os.Environ(), envPolicy+"="+string(spec), envArgv+`=["/bin/true"]`)
			}
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, nil) })
	b.Run("launcher", func(b *testing.B) { run(b, &Policy{Mode: Off}) })
	b.Run("launcher+landlock", func(b *testing.B) {
		p := d.policy(TaskWrite)
		p.Network = NetworkDeny
		run(b, &p)
	})
}
