// Package sandbox fences the processes a task starts with the kernel's
// own access control (Landlock on Linux), so that what an agent does by
// itself — not only what it asks the sidecar to do — stays inside its
// task's folder. Our path checks guard our code; only the kernel guards a
// process that writes with its own system calls.
//
// A Policy is made by the engine, handed to the launcher (the sidecar
// re-executed as a small process that starts a task's command) in its
// spec, and applied there with Apply before the command starts, so the
// command and everything it spawns inherit it and cannot undo it.
package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Mode says what a fenced process may write.
type Mode string

const (
	// Off: no fence. Only the user's own configuration may ask for it.
	Off Mode = "off"
	// TaskWrite: the task's folder and a private temp folder are writable;
	// everything else is read and execute only.
	TaskWrite Mode = "task-write"
	// ReadOnly: only the private temp folder is writable (a QC check
	// writes nothing).
	ReadOnly Mode = "read-only"
)

// Network says which TCP connections a fenced process may make.
type Network string

const (
	// NetworkAllow leaves the network alone.
	NetworkAllow Network = "allow"
	// NetworkDeny refuses every TCP connect and bind.
	NetworkDeny Network = "deny"
	// NetworkEndpoints allows TCP connects only to the ports in
	// Policy.ConnectPorts (the configured model endpoints'); binds are
	// refused. Landlock's rules name ports, not hosts.
	NetworkEndpoints Network = "endpoints"
)

// Policy is what Apply enforces. It travels as JSON in the launcher's spec.
type Policy struct {
	Mode Mode `json:"mode"`
	// Dir is the task's folder, writable under TaskWrite and not under
	// ReadOnly. Temp is the attempt's private temp folder, writable under
	// both. Write lists more writable folders, from the user's own
	// configuration only (an agent's state folder in $HOME, say). Each is
	// an absolute path, writable with everything beneath it; reading and
	// executing are allowed everywhere.
	Dir   string   `json:"dir,omitempty"`
	Temp  string   `json:"temp,omitempty"`
	Write []string `json:"write,omitempty"`
	// Network is "allow" when empty.
	Network      Network  `json:"network,omitempty"`
	ConnectPorts []uint16 `json:"connectPorts,omitempty"`
	// BestEffort lets Apply do what the kernel can: nothing without
	// Landlock, no network rules before Landlock ABI 4. Without it, a
	// kernel that cannot enforce the whole policy is an error.
	BestEffort bool `json:"bestEffort,omitempty"`
}

// ErrUnavailable is returned by Apply when a policy that must be enforced
// meets a kernel that cannot enforce it.
var ErrUnavailable = errors.New("the kernel cannot enforce the sandbox")

// Validate reports a policy Apply would refuse before touching the kernel.
func (p Policy) Validate() error {
	switch p.Mode {
	case Off, TaskWrite, ReadOnly:
	default:
		return fmt.Errorf("sandbox mode %q: want %q, %q or %q", p.Mode, TaskWrite, ReadOnly, Off)
	}
	switch p.Network {
	case "", NetworkAllow, NetworkDeny, NetworkEndpoints:
	default:
		return fmt.Errorf("sandbox network %q: want %q, %q or %q", p.Network, NetworkAllow, NetworkDeny, NetworkEndpoints)
	}
	for _, dir := range append([]string{p.Dir, p.Temp}, p.Write...) {
		if dir != "" && !filepath.IsAbs(dir) {
			return fmt.Errorf("sandbox: writable folder %q is not an absolute path", dir)
		}
	}
	if len(p.ConnectPorts) > 0 && p.Network != NetworkEndpoints {
		return fmt.Errorf("sandbox: connect ports are given but network is %q, not %q", p.network(), NetworkEndpoints)
	}
	return nil
}

func (p Policy) network() Network {
	if p.Network == "" {
		return NetworkAllow
	}
	return p.Network
}

// String names the policy for events and messages: "task-write",
// "read-only, network deny".
func (p Policy) String() string {
	s := string(p.Mode)
	if p.Mode != Off && p.network() != NetworkAllow {
		s += ", network " + string(p.network())
	}
	return s
}

// writable lists the folders the policy lets a process write.
func (p Policy) writable() []string {
	var dirs []string
	if p.Mode == TaskWrite && p.Dir != "" {
		dirs = append(dirs, p.Dir)
	}
	if p.Temp != "" {
		dirs = append(dirs, p.Temp)
	}
	return append(dirs, p.Write...)
}

// Explain says what the policy lets a process write, for the error of an
// attempt whose command was refused a write: the user and the QC gap both
// need to know it was the fence, not a bug of the command.
func (p Policy) Explain() string {
	if p.Mode == Off {
		return ""
	}
	var what []string
	if p.Mode == TaskWrite && p.Dir != "" {
		what = append(what, p.Dir)
	}
	what = append(what, p.Write...)
	if p.Temp != "" {
		what = append(what, "its temp folder")
	}
	var s string
	switch len(what) {
	case 0:
		s = fmt.Sprintf("the sandbox (%s) lets this task write nothing", p)
	case 1:
		s = fmt.Sprintf("the sandbox (%s) lets this task write only %s", p, what[0])
	default:
		s = fmt.Sprintf("the sandbox (%s) lets this task write only %s and %s", p, strings.Join(what[:len(what)-1], ", "), what[len(what)-1])
	}
	switch p.network() {
	case NetworkDeny:
		s += ", and open no TCP connection"
	case NetworkEndpoints:
		ports := make([]string, len(p.ConnectPorts))
		for i, port := range p.ConnectPorts {
			ports[i] = strconv.Itoa(int(port))
		}
		if len(ports) == 0 {
			s += ", and open no TCP connection (no model endpoint is configured)"
		} else {
			s += ", and connect only to TCP ports " + strings.Join(ports, ", ") + " (the model endpoints')"
		}
	}
	return s
}
