package engine

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mimir-sidecar/mimir-sidecar/internal/sandbox"
)

// Sandbox values a workflow and the user's configuration may give.
const (
	// SandboxRequired keeps each agent's default fence and refuses to run
	// where the kernel cannot enforce it.
	SandboxRequired = "required"
	// sandboxUnavailable is what an attempt's events say it ran under
	// when the kernel could not fence it.
	sandboxUnavailable = "unavailable"
)

// ErrSandboxUnavailable is returned when a workflow or the user's
// configuration requires the sandbox and the kernel cannot enforce it.
var ErrSandboxUnavailable = errors.New("the sandbox is required but the kernel cannot enforce it")

// SandboxSettings are the user's own choices for the sandbox. They come
// from the user's configuration, which is trusted: only it can turn the
// fence off or widen it. The zero value fences every agent where the
// kernel can (workers write their task's folder, QC agents nothing) and
// says so where it cannot.
type SandboxSettings struct {
	// Mode is "" or "task-write" (the default fences), "required" (the
	// same, and nothing runs where the kernel cannot enforce them) or
	// "off" (no fence at all).
	Mode string
	// Network is the loosest network rule any agent gets; a workflow can
	// only make it stricter.
	Network sandbox.Network
	// AllowWorkflowOff lets a workflow's `sandbox: off` take effect;
	// without it the workflow runs fenced and is warned.
	AllowWorkflowOff bool
	// Write lists more folders every fenced agent may write (an agent's
	// own state folder, say).
	Write []string
	// Endpoints are the model endpoints (URLs or host:port) whose ports
	// `network: endpoints` lets agents connect to.
	Endpoints []string
	// Source names where the settings came from, for messages.
	Source string

	// Available reports the kernel's Landlock ABI (0: none); default
	// sandbox.Available. Tests make Landlock unavailable through it.
	Available func() int
}

// Execution warnings: the once-per-execution execution-warning event's
// "warning" code.
const (
	WarningSandboxUnavailable = "sandbox-unavailable"
	WarningSandboxOffIgnored  = "sandbox-off-ignored"
	WarningNetworkUnfenced    = "sandbox-network-unavailable"
)

// sandboxPlan is how an execution fences its agents, settled when it is
// prepared: the kernel's support, the user's settings and the workflow's.
type sandboxPlan struct {
	wf       *Workflow
	user     SandboxSettings
	abi      int
	required bool
	ports    []uint16
	// unfenced is set when nothing is fenced: the user said off, or the
	// kernel cannot and nothing requires it.
	unfenced string // "off" or sandboxUnavailable, "" when fencing
	warnings []EventData
}

// planSandbox settles how wf's agents are fenced, or refuses when the
// sandbox is required and the kernel cannot enforce it.
func planSandbox(wf *Workflow, user SandboxSettings) (*sandboxPlan, error) {
	available := user.Available
	if available == nil {
		available = sandbox.Available
	}
	p := &sandboxPlan{wf: wf, user: user, abi: available()}
	p.required = user.Mode == SandboxRequired || wf.Sandbox == SandboxRequired
	if user.Mode == string(sandbox.Off) {
		p.unfenced = string(sandbox.Off)
		return p, nil
	}
	// The user's own endpoints were checked as their file was read; the
	// llm providers' may come from the workspace, and one that names no
	// port must not stop every execution: it is left out.
	for _, e := range user.Endpoints {
		if port, err := endpointPort(e); err == nil && !slices.Contains(p.ports, port) {
			p.ports = append(p.ports, port)
		}
	}
	slices.Sort(p.ports)
	if p.abi == 0 {
		if p.required {
			return nil, fmt.Errorf("%w: %s says `sandbox: required`, and %s; run it where there is one, or remove `sandbox: required`", ErrSandboxUnavailable, p.requiredBy(), noLandlockReason())
		}
		p.unfenced = sandboxUnavailable
		p.warnings = append(p.warnings, EventData{
			Warning: WarningSandboxUnavailable,
			Message: noSandboxMessage(),
		})
		return p, nil
	}
	if p.abi < 4 && p.strictestNetwork() != sandbox.NetworkAllow {
		if p.required {
			return nil, fmt.Errorf("%w: %s requires the sandbox and a network rule, and this kernel's Landlock (ABI %d) has no network rules (ABI 4, Linux 6.7, is needed)", ErrSandboxUnavailable, p.requiredBy(), p.abi)
		}
		p.warnings = append(p.warnings, EventData{
			Warning: WarningNetworkUnfenced,
			Message: fmt.Sprintf("⚠️ Network not fenced: this kernel's Landlock (ABI %d) has no network rules; files are fenced, connections are not.", p.abi),
		})
	}
	if wantsOff(wf) && !user.AllowWorkflowOff {
		p.warnings = append(p.warnings, EventData{
			Warning: WarningSandboxOffIgnored,
			Message: "⚠️ The workflow asks for `sandbox: off`, which only your own configuration can allow: it runs fenced. To allow it, set `sandbox: {allowWorkflowOff: true}` in your user configuration.",
		})
	}
	return p, nil
}

// noLandlockReason says why this system cannot fence.
// noSandboxMessage is the warning of a workflow that runs unfenced: on
// Linux the kernel lacks Landlock; elsewhere there is no sandbox yet.
func noSandboxMessage() string {
	system := "this system has no Landlock"
	if runtime.GOOS != "linux" {
		system = "the sidecar has no sandbox for " + runtime.GOOS + " yet (only Linux's Landlock)"
	}
	return "⚠️ No sandbox: " + system + ", so this workflow's commands can write anywhere you can. Add `sandbox: required` to refuse to run without it."
}

func noLandlockReason() string {
	if runtime.GOOS == "linux" {
		return "this kernel has no Landlock (Linux 5.13 or later, with Landlock enabled, is needed)"
	}
	return "there is no sandbox for " + runtime.GOOS + " yet (only Linux's Landlock)"
}

func (p *sandboxPlan) requiredBy() string {
	if p.user.Mode == SandboxRequired {
		if p.user.Source != "" {
			return "your configuration (" + p.user.Source + ")"
		}
		return "your configuration"
	}
	return "the workflow"
}

func wantsOff(wf *Workflow) bool {
	if wf.Sandbox == string(sandbox.Off) {
		return true
	}
	for _, t := range wf.Tasks {
		for _, a := range []*AgentSpec{t.Worker, t.QC} {
			if a != nil && a.Sandbox == string(sandbox.Off) {
				return true
			}
		}
	}
	return false
}

// strictestNetwork is the strictest rule anything in the plan asks for.
func (p *sandboxPlan) strictestNetwork() sandbox.Network {
	n := stricter(p.user.Network, sandbox.Network(p.wf.Network))
	for _, t := range p.wf.Tasks {
		for _, a := range []*AgentSpec{t.Worker, t.QC} {
			if a != nil {
				n = stricter(n, sandbox.Network(a.Network))
			}
		}
	}
	return n
}

// networkRank orders network rules from loosest to strictest.
func networkRank(n sandbox.Network) int {
	switch n {
	case sandbox.NetworkEndpoints:
		return 1
	case sandbox.NetworkDeny:
		return 2
	}
	return 0
}

func stricter(a, b sandbox.Network) sandbox.Network {
	if networkRank(b) > networkRank(a) {
		return b
	}
	if a == "" {
		return sandbox.NetworkAllow
	}
	return a
}

// policy is the fence of an agent in role (PhaseWorker or PhaseQC) of a
// task, without its folders, which each command run fills in. Its mode
// is "off" or "unavailable" when nothing is fenced.
func (p *sandboxPlan) policy(role string, spec *AgentSpec) sandbox.Policy {
	if p.unfenced != "" {
		return sandbox.Policy{Mode: sandbox.Mode(p.unfenced)}
	}
	mode := sandbox.TaskWrite
	if role == PhaseQC {
		mode = sandbox.ReadOnly
	}
	for _, asked := range []string{p.wf.Sandbox, spec.Sandbox} {
		switch m := sandbox.Mode(asked); m {
		case sandbox.TaskWrite, sandbox.ReadOnly:
			mode = m
		case sandbox.Off:
			if p.user.AllowWorkflowOff {
				return sandbox.Policy{Mode: sandbox.Off}
			}
		}
	}
	network := stricter(stricter(p.user.Network, sandbox.Network(p.wf.Network)), sandbox.Network(spec.Network))
	pol := sandbox.Policy{Mode: mode, Network: network, Write: p.user.Write, BestEffort: !p.required}
	if network == sandbox.NetworkEndpoints {
		pol.ConnectPorts = p.ports
	}
	return pol
}

// fenced reports whether a policy from plan.policy fences anything.
func fenced(pol sandbox.Policy) bool {
	return pol.Mode == sandbox.TaskWrite || pol.Mode == sandbox.ReadOnly
}

// sandboxFields put in an attempt's start event what fences it.
func sandboxFields(pol sandbox.Policy, data *EventData) {
	data.Sandbox = string(pol.Mode)
	if fenced(pol) {
		data.Network = string(pol.Network)
	}
}

// endpointPorts turns model endpoints (URLs or host:port) into the TCP
// ports `network: endpoints` allows.
func endpointPorts(endpoints []string) ([]uint16, error) {
	var ports []uint16
	for _, e := range endpoints {
		port, err := endpointPort(e)
		if err != nil {
			return nil, fmt.Errorf("sandbox endpoint %q: %w", e, err)
		}
		if !slices.Contains(ports, port) {
			ports = append(ports, port)
		}
	}
	slices.Sort(ports)
	return ports, nil
}

func endpointPort(e string) (uint16, error) {
	var port string
	if u, err := url.Parse(e); err == nil && u.Host != "" {
		port = u.Port()
		if port == "" {
			switch u.Scheme {
			case "http":
				port = "80"
			case "https":
				port = "443"
			default:
				return 0, fmt.Errorf("no port, and scheme %q has no default one", u.Scheme)
			}
		}
	} else if _, p, err := net.SplitHostPort(e); err == nil {
		port = p
	} else {
		return 0, errors.New("want a URL (https://host:port/…) or host:port")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is not a TCP port", port)
	}
	return uint16(n), nil
}

// commandFence is the fence of one command run: its policy with the
// task's folder and a private temp folder made for it, the environment
// that points the command's tools at that temp folder, and what explains
// a write the fence refused.
type commandFence struct {
	Policy *sandbox.Policy // nil: not fenced
	Env    []string
	temp   string
	denied denials
}

// fenceFor makes the fence of one command job runs in phase: a private
// temp folder (removed by Close) and the policy that lets the command
// write it and, under task-write, the task's folder.
func fenceFor(job *Job, phase string) (*commandFence, error) {
	f := &commandFence{}
	if job.sandbox == nil {
		return f, nil
	}
	pol := job.sandbox(phase)
	if !fenced(pol) {
		return f, nil
	}
	temp, err := os.MkdirTemp("", "mimir-"+job.Task.ID+"-")
	if err != nil {
		return nil, fmt.Errorf("make a temp folder for task %s: %w", job.Task.ID, err)
	}
	if temp, err = filepath.EvalSymlinks(temp); err != nil {
		_ = os.RemoveAll(temp)
		return nil, fmt.Errorf("make a temp folder for task %s: %w", job.Task.ID, err)
	}
	pol.Dir, pol.Temp = job.Dir, temp
	f.Policy, f.temp = &pol, temp
	f.Env = []string{"TMPDIR=" + temp, "TMP=" + temp, "TEMP=" + temp}
	return f, nil
}

// Close removes the command's temp folder.
func (f *commandFence) Close() {
	if f.temp != "" {
		_ = os.RemoveAll(f.temp)
	}
}

// Watch returns w with the command's refused writes noted as they pass.
func (f *commandFence) Watch(w interface{ Write([]byte) (int, error) }) interface{ Write([]byte) (int, error) } {
	if f.Policy == nil {
		return w
	}
	f.denied.w = w
	return &f.denied
}

// Explain adds to a failed command's error what the fence refused and
// what it allows, so that the QC gap and the user see why.
func (f *commandFence) Explain(err error) error {
	if err == nil || f.Policy == nil {
		return err
	}
	line := f.denied.first()
	if line == "" {
		return err
	}
	return fmt.Errorf("%w\nrefused by the sandbox: %s\n%s", err, line, f.Policy.Explain())
}

// denials passes output on and keeps the first line that reports a
// refused write ("Permission denied", EACCES), which names the path.
type denials struct {
	w       interface{ Write([]byte) (int, error) }
	mu      sync.Mutex
	partial []byte
	line    string
}

const maxDenialLine = 512

func (d *denials) Write(p []byte) (int, error) {
	d.mu.Lock()
	if d.line == "" {
		d.scan(p)
	}
	d.mu.Unlock()
	return d.w.Write(p)
}

func (d *denials) scan(p []byte) {
	for len(p) > 0 && d.line == "" {
		i := slices.Index(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		if room := maxDenialLine - len(d.partial); room > 0 {
			d.partial = append(d.partial, chunk[:min(room, len(chunk))]...)
		}
		if i < 0 {
			return
		}
		d.check()
		p = p[i+1:]
	}
}

func (d *denials) check() {
	if s := string(d.partial); strings.Contains(s, "Permission denied") || strings.Contains(s, "permission denied") {
		d.line = strings.TrimSpace(s)
	}
	d.partial = d.partial[:0]
}

func (d *denials) first() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.line == "" && len(d.partial) > 0 {
		d.check()
	}
	return d.line
}
