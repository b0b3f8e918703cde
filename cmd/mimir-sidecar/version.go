package main

import "runtime/debug"

// version is the release's version, stamped at build time by
// scripts/release: -ldflags "-X main.version=v1.2.3". Empty otherwise.
var version string

// sidecarVersion is what --version and initialize's serverInfo say: the
// stamped version, else the one the go command recorded in the binary.
func sidecarVersion() string {
	bi, _ := debug.ReadBuildInfo()
	return resolveVersion(version, bi)
}

// resolveVersion prefers the stamp. Without one, the go command's record
// still says which code this is: the module's version for `go install
// …@v1.2.3`, a pseudo-version naming the commit (with +dirty for local
// changes) for a build in a clone; "(devel)" means it knew nothing.
func resolveVersion(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi != nil && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	if bi != nil {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "devel-" + s.Value[:12]
			}
		}
	}
	return "devel"
}
