package workspace

import (
	"errors"
	"testing"
)

// Windows paths, as clients send them: drive letters in either case,
// backslashes or slashes, and file URIs in VS Code's form and others.
func TestRelWindows(t *testing.T) {
	ws := &Workspace{dir: `C:\Users\me\proj`}
	for _, in := range []string{
		`C:\Users\me\proj\flows\wf.yaml`, `c:\users\me\proj\flows\wf.yaml`, `C:/Users/me/proj/flows/wf.yaml`,
		`flows\wf.yaml`, `flows/wf.yaml`,
		"file:///C:/Users/me/proj/flows/wf.yaml", "file:///c%3A/Users/me/proj/flows/wf.yaml",
	} {
		if got, err := ws.Rel(in); err != nil || got != "flows/wf.yaml" {
			t.Errorf("Rel(%q) = %q, %v; want flows/wf.yaml", in, got, err)
		}
	}
	for _, in := range []string{`D:\Users\me\proj\wf.yaml`, `C:\Users\me\other\wf.yaml`, "file:///D:/x", `..\x`, `\\server\share\wf.yaml`} {
		if got, err := ws.Rel(in); !errors.Is(err, ErrPathNotAllowed) {
			t.Errorf("Rel(%q) = %q, %v; want ErrPathNotAllowed", in, got, err)
		}
	}
}
