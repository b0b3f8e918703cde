// Package winname knows the file names Windows cannot hold, so that a name
// made on Linux (a task's folder, a saved deliverable) is refused where it
// is chosen rather than failing later on another machine.
package winname

import "strings"

// Reserved reports whether elem, one path element, is a device name on
// Windows (CON, PRN, AUX, NUL, COM0-9, LPT0-9), in any case, with or
// without an extension ("con.txt", "Lpt1.tar.gz"): Windows opens the
// device instead of a file of that name.
func Reserved(elem string) bool {
	base, _, _ := strings.Cut(elem, ".")
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL":
		return true
	}
	if len(base) == 4 && (strings.HasPrefix(base, "COM") || strings.HasPrefix(base, "LPT")) {
		return base[3] >= '0' && base[3] <= '9'
	}
	return false
}

// TrailingDot reports whether elem ends with a dot or a space, which
// Windows drops from a name: "a." and "a" would be one file there.
func TrailingDot(elem string) bool {
	return strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " ")
}
