// Package fileuri converts between file URIs and paths as VS Code does
// (vscode-uri): on Windows, drive letters (file:///C:/… and VS Code's own
// file:///c%3A/…), backslashes and UNC shares (file://server/share/…).
// Every path a client sends as a URI comes through here.
package fileuri

import (
	"runtime"
	"strings"

	"go.lsp.dev/uri"
)

// ToPath is the path on this OS that a file URI names; false for a URI of
// another scheme, or for text that is no URI (a path, say).
func ToPath(u string) (string, bool) { return toPath(u, host()) }

// FromPath is the file URI of an absolute path of this OS.
func FromPath(p string) string { return fromPath(p, host()) }

func host() uri.Platform {
	if runtime.GOOS == "windows" {
		return uri.PlatformWindows
	}
	return uri.PlatformPOSIX
}

// toPath and fromPath take the OS as a parameter so that the forms of
// both are tested on every OS.
func toPath(u string, on uri.Platform) (string, bool) {
	if !strings.EqualFold(uri.URI(u).Scheme(), "file") {
		return "", false
	}
	// localhost is this machine (RFC 8089), not a share of that name.
	if len(u) > len("file://localhost/") && strings.EqualFold(u[:len("file://localhost/")], "file://localhost/") {
		u = "file:///" + u[len("file://localhost/"):]
	}
	return uri.FsPathFor(uri.URI(u), on, false), true
}

func fromPath(p string, on uri.Platform) string {
	return string(uri.FileFor(on, p))
}
