//go:build !linux && !windows

package launcher

// Main returns at once: only Linux runs commands through a launcher.
func Main() {}

// Subreaper does nothing where there are no child subreapers.
type Subreaper struct{}

// StartSubreaper does nothing where there are no child subreapers.
func StartSubreaper() (*Subreaper, error) { return &Subreaper{}, nil }

// Stop does nothing.
func (*Subreaper) Stop() {}
