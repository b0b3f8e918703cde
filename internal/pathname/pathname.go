// Package pathname holds the rule for names the sidecar creates or accepts
// as relative paths: one rule for the workspace's writer and for the paths
// the engine reads back from its journal.
package pathname

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotAllowed is wrapped by every refusal of a path.
var ErrNotAllowed = errors.New("path not allowed")

// Windows cannot hold these names, with or without an extension.
var reserved = map[string]bool{
	"CON": true, "PRN": true, "AUX": true, "NUL": true,
	"COM1": true, "COM2": true, "COM3": true, "COM4": true, "COM5": true, "COM6": true, "COM7": true, "COM8": true, "COM9": true,
	"LPT1": true, "LPT2": true, "LPT3": true, "LPT4": true, "LPT5": true, "LPT6": true, "LPT7": true, "LPT8": true, "LPT9": true,
}

const maxNameLen = 255

// Check reports whether rel, a slash-separated relative path, names a
// file that can be created safely on every OS the sidecar runs on.
func Check(rel string) error {
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: %q: %s", ErrNotAllowed, rel, fmt.Sprintf(format, args...))
	}
	switch {
	case rel == "":
		return refuse("empty path")
	case strings.HasPrefix(rel, "/"):
		return refuse("absolute paths are not allowed; give a path relative to the workspace")
	case strings.ContainsRune(rel, '\\'):
		return refuse("use / to separate folders, not \\")
	case len(rel) >= 2 && rel[1] == ':':
		return refuse("drive letters are not allowed")
	}
	for _, elem := range strings.Split(rel, "/") {
		switch elem {
		case "":
			return refuse("empty folder name (//)")
		case ".", "..":
			return refuse("%q is not allowed in a path", elem)
		}
		if len(elem) > maxNameLen {
			return refuse("name longer than %d bytes", maxNameLen)
		}
		for _, r := range elem {
			switch {
			case r < 0x20 || r == 0x7f:
				return refuse("control character %U in a name", r)
			case strings.ContainsRune(`<>:"|?*`, r):
				return refuse("character %q cannot be used in a file name on Windows", r)
			}
		}
		if strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " ") {
			return refuse("name %q ends with a dot or space, which Windows drops", elem)
		}
		base, _, _ := strings.Cut(elem, ".")
		if reserved[strings.ToUpper(strings.TrimSpace(base))] {
			return refuse("%q is a reserved device name on Windows", elem)
		}
	}
	return nil
}
