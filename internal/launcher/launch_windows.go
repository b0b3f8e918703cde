package launcher

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"unsafe"

	"golang.org/x/sys/windows"
)

// wire is what the sidecar tells its launcher besides the command's argv
// (its arguments) and environment (its own).
type wire struct {
	// Path is the program, resolved by the sidecar (with %PATHEXT%, as
	// exec.LookPath does on Windows).
	Path string `json:"path"`
}

// command makes cmd run the launcher, this very binary, with the command
// as its arguments. The launcher puts itself in a Job Object before it
// starts the command, so the command and everything it starts are in the
// job from their first instruction; the job is killed as a whole when the
// command exits, when the launcher is killed (cancel) and when the sidecar
// dies.
func command(ctx context.Context, path string, s Spec) (*exec.Cmd, error) {
	if err := checkUnfenced(s); err != nil {
		return nil, err
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the sidecar's own binary to launch with: %w", err)
	}
	enc, err := json.Marshal(wire{Path: path})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self)
	cmd.Args = append([]string{"mimir-launch"}, s.Argv...)
	cmd.Env = append(slices.Clip(s.Env), envKey+"="+string(enc))
	cmd.SysProcAttr = &windows.SysProcAttr{
		// A process group of its own: a console's Ctrl-C reaches the
		// sidecar, which then cancels, and not the commands directly.
		CreationFlags: windows.CREATE_NEW_PROCESS_GROUP,
		// A sidecar started without a console (by an editor) would have
		// each console command open a window of its own.
		HideWindow: true,
	}
	// Killing the launcher closes the only handle to its job, which kills
	// everything in it (JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE). Windows has no
	// SIGTERM to give a command its grace: cancel is a kill.
	cmd.Cancel = func() error { return cmd.Process.Kill() }
	cmd.WaitDelay = KillGrace
	return cmd, nil
}

// Finish is called once Wait returned. The launcher's job is gone, and
// with it everything the command started; nothing is left to do.
func Finish(*exec.Cmd) {}

// launch runs argv as the launcher and returns its exit code. On the
// usual paths it does not return: ending the job ends the launcher too,
// with the command's exit code.
func launch(enc string, argv []string) int {
	w, ok := readWire(enc, argv)
	if !ok {
		return 127
	}
	job, err := newJob()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: %v\n", err)
		return 126
	}
	// Opened before the command starts: the sidecar is alive now (it waits
	// for this process), so the handle is to it and not to a process that
	// took its id later.
	parent, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(os.Getppid()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: watch the sidecar: %v\n", err)
		return 126
	}
	// A console's Ctrl-Break reaches every process in it, this one too:
	// the sidecar, which gets it as well, decides what ends (it cancels),
	// not this launcher's death, which would fail the attempt first.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt)
	cmd, failed := startCommand(w, argv)
	if cmd == nil {
		return failed
	}
	exited := make(chan int, 1)
	go func() {
		_ = cmd.Wait()
		exited <- cmd.ProcessState.ExitCode()
	}()
	// The goroutine waiting for the sidecar ends with this process, which
	// the job's end ends.
	sidecarGone := make(chan struct{})
	go func() {
		_, _ = windows.WaitForSingleObject(parent, windows.INFINITE)
		close(sidecarGone)
	}()
	code := 1
	select {
	case code = <-exited:
	case <-sidecarGone:
	}
	// Everything the command left, and this process with them, ends here
	// with the command's code.
	if err := windows.TerminateJobObject(job, uint32(code)); err != nil {
		fmt.Fprintf(os.Stderr, "mimir-sidecar launcher: end the command's job: %v\n", err)
	}
	return code
}

// newJob makes a Job Object that kills its processes when its last handle
// closes, and puts this process in it: what it starts from now on is in
// it too (nested jobs, Windows 8 and later, which Go requires).
func newJob() (windows.Handle, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create a job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("make the job kill its processes when it closes: %w", err)
	}
	if err := windows.AssignProcessToJobObject(job, windows.CurrentProcess()); err != nil {
		windows.CloseHandle(job)
		return 0, fmt.Errorf("enter the job object: %w", err)
	}
	return job, nil
}

// Subreaper does nothing on Windows: the launchers' jobs hold every
// process a command starts.
type Subreaper struct{}

// StartSubreaper does nothing on Windows.
func StartSubreaper() (*Subreaper, error) { return &Subreaper{}, nil }

// Stop does nothing.
func (*Subreaper) Stop() {}
