package sandbox

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The fence is made with Landlock's three system calls directly. The
// go-landlock library fences every thread of the process through libpsx,
// whose cgo build alone added 13 MB to the resident size of every sidecar
// (22 MB → 35 MB idle), though only a launcher ever applies a fence; a
// launcher needs only the one thread that starts its command fenced.

// Available reports the kernel's Landlock ABI version, 0 when it has none
// (too old, or not enabled at boot).
func Available() int {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 || int(v) < 0 {
		return 0
	}
	return int(v)
}

// Landlock ABI versions that brought what the policy uses.
const (
	abiRefer    = 2 // renames and links across folders
	abiTruncate = 3
	abiNetwork  = 4 // TCP bind and connect rules
	abiIoctlDev = 5
	abiScoped   = 6 // abstract unix sockets and signals
)

// writeRights are the filesystem rights the fence handles: every way of
// changing the filesystem. Reading and executing are not handled, so they
// stay allowed everywhere.
const writeRights = unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
	unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR | unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
	unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK | unix.LANDLOCK_ACCESS_FS_MAKE_SYM | unix.LANDLOCK_ACCESS_FS_REFER |
	unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

// deviceRights are what ordinary tools need on the devices below: write
// to /dev/null, talk to a terminal.
const deviceRights = unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

// devices stay writable under every mode: writing to them changes no file.
var devices = []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty", "/dev/ptmx", "/dev/pts"}

// ruleset is what a Landlock ruleset handles; what it does not handle
// stays allowed.
type ruleset struct {
	HandledAccessFS, HandledAccessNet, Scoped uint64
}

// pathRule gives access to everything beneath paths; missing ones are
// skipped when ignoreMissing is set.
type pathRule struct {
	access        uint64
	paths         []string
	ignoreMissing bool
}

// Apply fences the calling OS thread, and every process it starts
// afterwards, irreversibly: the calling goroutine is locked to that thread
// for good, so a command it then starts (os/exec, syscall.ForkExec) is
// forked from the fenced thread and inherits the fence. Under BestEffort
// it enforces what the kernel supports; otherwise a kernel that cannot
// enforce the policy is an error wrapping ErrUnavailable and nothing is
// restricted.
func (p Policy) Apply() error {
	cfg, rules, err := p.ruleset()
	if err != nil || cfg == nil {
		return err
	}
	if err := restrict(cfg, rules, p.ConnectPorts); err != nil {
		return fmt.Errorf("sandbox (%s): %w", p, err)
	}
	return nil
}

// ruleset is the Landlock ruleset and rules that enforce p here: a nil
// ruleset when there is nothing to enforce.
func (p Policy) ruleset() (*ruleset, []pathRule, error) {
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
	rules := []pathRule{{access: deviceRights & cfg.HandledAccessFS, paths: devices, ignoreMissing: true}}
	if len(own) > 0 {
		rules = append(rules, pathRule{access: cfg.HandledAccessFS, paths: own})
	}
	if len(p.Write) > 0 {
		// The user's own folders: followed if links, skipped until they
		// exist (an agent's state folder is made on its first run).
		rules = append(rules, pathRule{access: cfg.HandledAccessFS, paths: p.Write, ignoreMissing: true})
	}
	return cfg, rules, nil
}

// config is the Landlock ruleset that enforces p on a kernel with the
// given ABI: nil when there is nothing to enforce (best effort on a kernel
// without Landlock). Rights a kernel lacks beyond the policy's core
// (truncate, device ioctls, cross-folder renames, IPC scoping) are left
// out; the core — writes, and network rules when asked for — is required
// unless the policy is best effort.
func (p Policy) config(abi int) (*ruleset, error) {
	if abi < 1 {
		if p.BestEffort {
			return nil, nil
		}
		return nil, fmt.Errorf("sandbox (%s): %w: Landlock is not available (Linux 5.13 or later with Landlock enabled is needed)", p, ErrUnavailable)
	}
	fs := uint64(writeRights)
	for _, r := range []struct {
		abi    int
		rights uint64
	}{{abiRefer, unix.LANDLOCK_ACCESS_FS_REFER}, {abiTruncate, unix.LANDLOCK_ACCESS_FS_TRUNCATE}, {abiIoctlDev, unix.LANDLOCK_ACCESS_FS_IOCTL_DEV}} {
		if abi < r.abi {
			fs &^= r.rights
		}
	}
	cfg := &ruleset{HandledAccessFS: fs}
	if p.network() != NetworkAllow {
		switch {
		case abi >= abiNetwork:
			cfg.HandledAccessNet = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
		case !p.BestEffort:
			return nil, fmt.Errorf("sandbox (%s): %w: network rules need Landlock ABI %d, the kernel has %d", p, ErrUnavailable, abiNetwork, abi)
		}
	}
	if abi >= abiScoped {
		// A fenced process may not reach the abstract sockets of
		// processes outside its fence, nor signal them (the sidecar, the
		// user's shell). Only the launcher's one thread that starts the
		// command is fenced, so the launcher's others may still signal
		// the command, which is in the fence.
		cfg.Scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	}
	return cfg, nil
}

// ruleNetPort is LANDLOCK_RULE_NET_PORT, which x/sys/unix does not name.
const ruleNetPort = 2

// netPortAttr is struct landlock_net_port_attr.
type netPortAttr struct {
	allowedAccess uint64
	port          uint64
}

// restrict makes the ruleset, adds the rules, and fences the calling
// thread with it, locking the calling goroutine to that thread.
func restrict(cfg *ruleset, rules []pathRule, ports []uint16) error {
	attr := unix.LandlockRulesetAttr{Handled_access_fs: cfg.HandledAccessFS, Handled_access_net: cfg.HandledAccessNet, Scoped: cfg.Scoped}
	// Only the fields up to Scoped: an older kernel refuses a larger
	// struct only when the bytes it does not know are set, and they are
	// not, but the kernel's own struct is what it was made for.
	size := unsafe.Offsetof(attr.Scoped) + unsafe.Sizeof(attr.Scoped)
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("create the Landlock ruleset: %w", e)
	}
	defer unix.Close(int(fd))
	for _, r := range rules {
		if r.access == 0 {
			continue
		}
		for _, p := range r.paths {
			if err := addPathRule(int(fd), p, r.access); err != nil {
				if r.ignoreMissing && errors.Is(err, unix.ENOENT) {
					continue
				}
				return err
			}
		}
	}
	if cfg.HandledAccessNet != 0 {
		for _, port := range ports {
			rule := netPortAttr{allowedAccess: unix.LANDLOCK_ACCESS_NET_CONNECT_TCP, port: uint64(port)}
			if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, fd, ruleNetPort, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); e != 0 {
				return fmt.Errorf("allow TCP connections to port %d: %w", port, e)
			}
		}
	}
	// From here on the goroutine stays on this thread, which the fence
	// covers, so what it starts is forked from the fenced thread.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("forbid new privileges: %w", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return fmt.Errorf("enforce the Landlock ruleset: %w", e)
	}
	return nil
}

// addPathRule gives access beneath path (a link is followed: the rule is
// on what it names).
func addPathRule(ruleset int, path string, access uint64) error {
	fd, err := unix.Open(path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("allow writing beneath %s: %w", path, err)
	}
	defer unix.Close(fd)
	// A rule on a file may hold only the rights that apply to files.
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE | unix.LANDLOCK_ACCESS_FS_READ_FILE |
			unix.LANDLOCK_ACCESS_FS_TRUNCATE | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(fd)}
	if _, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(ruleset), unix.LANDLOCK_RULE_PATH_BENEATH, uintptr(unsafe.Pointer(&rule)), 0, 0, 0); e != 0 {
		return fmt.Errorf("allow writing beneath %s: %w", path, e)
	}
	return nil
}
