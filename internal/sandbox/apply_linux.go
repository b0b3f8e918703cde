package sandbox

import (
	"fmt"
	"os"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

// Available reports the kernel's Landlock ABI version, 0 when it has none
// (too old, or not enabled at boot).
func Available() int {
	v, err := ll.LandlockGetABIVersion()
	if err != nil || v < 0 {
		return 0
	}
	return v
}

// Landlock ABI versions that brought what the policy uses.
const (
	abiRefer    = 2 // renames and links across folders
	abiTruncate = 3
	abiNetwork  = 4 // TCP bind and connect rules
	abiIoctlDev = 5
	abiScoped   = 6 // abstract unix sockets (signals: see abiTSync)
	abiTSync    = 8 // one domain for all of a process's threads
)

// writeRights are the filesystem rights the fence handles: every way of
// changing the filesystem. Reading and executing are not handled, so they
// stay allowed everywhere.
const writeRights = landlock.AccessFSSet(ll.AccessFSWriteFile | ll.AccessFSRemoveDir | ll.AccessFSRemoveFile |
	ll.AccessFSMakeChar | ll.AccessFSMakeDir | ll.AccessFSMakeReg | ll.AccessFSMakeSock | ll.AccessFSMakeFifo |
	ll.AccessFSMakeBlock | ll.AccessFSMakeSym | ll.AccessFSRefer | ll.AccessFSTruncate | ll.AccessFSIoctlDev)

// deviceRights are what ordinary tools need on the devices below: write
// to /dev/null, talk to a terminal.
const deviceRights = landlock.AccessFSSet(ll.AccessFSWriteFile | ll.AccessFSTruncate | ll.AccessFSIoctlDev)

// devices stay writable under every mode: writing to them changes no file.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/pts"}

// Apply fences the calling process — all its threads — and everything it
// starts afterwards, irreversibly. Under BestEffort it enforces what the
// kernel supports; otherwise a kernel that cannot enforce the policy is
// an error wrapping ErrUnavailable and nothing is restricted.
func (p Policy) Apply() error {
	cfg, rules, err := p.ruleset()
	if err != nil || cfg == nil {
		return err
	}
	if err := cfg.Restrict(rules...); err != nil {
		return fmt.Errorf("sandbox (%s): %w", p, err)
	}
	return nil
}

// ruleset is the Landlock configuration and rules that enforce p here:
// a nil configuration when there is nothing to enforce.
func (p Policy) ruleset() (*landlock.Config, []landlock.Rule, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, err
	}
	if p.Mode == Off {
		return nil, nil, nil
	}
	cfg, err := p.config(Available())
	if err != nil || cfg == nil {
		return nil, nil, err // nil, nil: best effort, and the kernel has nothing to offer
	}
	own := p.writable()
	own = own[:len(own)-len(p.Write)]
	for _, dir := range own {
		// The task's folder lies in the workspace, which is not trusted:
		// one planted as a symlink would carry the fence's write right
		// wherever it points.
		fi, err := os.Lstat(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("sandbox: writable folder: %w", err)
		}
		if !fi.IsDir() {
			return nil, nil, fmt.Errorf("sandbox: writable folder %s is not a folder (a symlink?)", dir)
		}
	}
	rules := []landlock.Rule{
		landlock.PathAccess(deviceRights&cfg.HandledAccessFS, devices...).IgnoreIfMissing(),
	}
	if len(own) > 0 {
		rules = append(rules, landlock.PathAccess(cfg.HandledAccessFS, own...))
	}
	if len(p.Write) > 0 {
		// The user's own folders: followed if links, skipped until they
		// exist (an agent's state folder is made on its first run).
		rules = append(rules, landlock.PathAccess(cfg.HandledAccessFS, p.Write...).IgnoreIfMissing())
	}
	if cfg.HandledAccessNet != 0 {
		for _, port := range p.ConnectPorts {
			rules = append(rules, landlock.ConnectTCP(port))
		}
	}
	return cfg, rules, nil
}

// config is the Landlock configuration that enforces p on a kernel with
// the given ABI: nil when there is nothing to enforce (best effort on a
// kernel without Landlock). Rights a kernel lacks beyond the policy's
// core (truncate, device ioctls, cross-folder renames, IPC scoping) are
// left out; the core — writes, and network rules when asked for — is
// required unless the policy is best effort.
func (p Policy) config(abi int) (*landlock.Config, error) {
	if abi < 1 {
		if p.BestEffort {
			return nil, nil
		}
		return nil, fmt.Errorf("sandbox (%s): %w: Landlock is not available (Linux 5.13 or later with Landlock enabled is needed)", p, ErrUnavailable)
	}
	fs := writeRights
	for _, r := range []struct {
		abi    int
		rights landlock.AccessFSSet
	}{{abiRefer, ll.AccessFSRefer}, {abiTruncate, ll.AccessFSTruncate}, {abiIoctlDev, ll.AccessFSIoctlDev}} {
		if abi < r.abi {
			fs &^= r.rights
		}
	}
	cfg := &landlock.Config{HandledAccessFS: fs}
	if p.network() != NetworkAllow {
		switch {
		case abi >= abiNetwork:
			cfg.HandledAccessNet = ll.AccessNetBindTCP | ll.AccessNetConnectTCP
		case !p.BestEffort:
			return nil, fmt.Errorf("sandbox (%s): %w: network rules need Landlock ABI %d, the kernel has %d", p, ErrUnavailable, abiNetwork, abi)
		}
	}
	if abi >= abiScoped {
		// A fenced process may not reach the abstract sockets of
		// processes outside its fence.
		cfg.Scoped = ll.ScopeAbstractUnixSocket
	}
	if abi >= abiTSync {
		// Nor signal them (the sidecar, the user's shell). Before ABI 8
		// each of the caller's threads is fenced on its own, into a domain
		// of its own, and a thread may not signal a child another thread
		// forked: the launcher could not stop its command.
		cfg.Scoped |= ll.ScopeSignal
	}
	return cfg, nil
}
