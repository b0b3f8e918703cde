// Package pathname holds the rule for names the sidecar creates or accepts
// as relative paths: one rule for the workspace's writer and for the paths
// the engine reads back from its journal.
package pathname

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mimir-sidecar/mimir-sidecar/internal/winname"
)

// ErrNotAllowed is wrapped by every refusal of a path.
var ErrNotAllowed = errors.New("path not allowed")

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
	case !utf8.ValidString(rel):
		return refuse("the name is not valid UTF-8")
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
		if winname.TrailingDot(elem) {
			return refuse("name %q ends with a dot or space, which Windows drops", elem)
		}
		if winname.Reserved(elem) {
			return refuse("%q is a reserved device name on Windows", elem)
		}
	}
	return nil
}
