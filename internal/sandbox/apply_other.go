//go:build !linux

package sandbox

import (
	"fmt"
	"runtime"
)

// Available reports the kernel's Landlock ABI version: 0, Landlock being
// Linux's.
func Available() int { return 0 }

// Apply fences nothing here: under BestEffort it does nothing, otherwise
// it refuses, wrapping ErrUnavailable.
func (p Policy) Apply() error {
	if err := p.Validate(); err != nil {
		return err
	}
	if p.Mode == Off || p.BestEffort {
		return nil
	}
	return fmt.Errorf("sandbox (%s): %w: there is no sandbox on %s yet", p, ErrUnavailable, runtime.GOOS)
}
