//go:build unix && !linux

package engine

import (
	"errors"
	"syscall"
)

// Only Linux kills a child when its parent dies.
func setDeathSignal(*syscall.SysProcAttr) {}

// Without /proc there is no cheap, safe way to tell a recorded group from a
// stranger that reused its id, so none is killed.
func groupInside(int, string) (bool, error) { return false, errors.ErrUnsupported }
