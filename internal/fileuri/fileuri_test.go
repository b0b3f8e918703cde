package fileuri

import (
	"testing"

	"go.lsp.dev/uri"
)

func TestToPath(t *testing.T) {
	for _, tc := range []struct {
		uri      string
		on       uri.Platform
		want     string
		wantFile bool
	}{
		{"file:///home/me/proj/wf.yaml", uri.PlatformPOSIX, "/home/me/proj/wf.yaml", true},
		{"file:///home/me/My%20proj/wf.yaml", uri.PlatformPOSIX, "/home/me/My proj/wf.yaml", true},
		{"file:///C:/Users/me/proj/wf.yaml", uri.PlatformWindows, `c:\Users\me\proj\wf.yaml`, true},
		// VS Code's own form: the drive letter lower case, its colon encoded.
		{"file:///c%3A/Users/me/My%20proj/wf.yaml", uri.PlatformWindows, `c:\Users\me\My proj\wf.yaml`, true},
		{"file:///D:/", uri.PlatformWindows, `d:\`, true},
		{"file://server/share/proj/wf.yaml", uri.PlatformWindows, `\\server\share\proj\wf.yaml`, true},
		{"FILE:///C:/x", uri.PlatformWindows, `c:\x`, true},
		{"file://localhost/home/me/x", uri.PlatformPOSIX, "/home/me/x", true},
		{"file://LOCALHOST/C:/x", uri.PlatformWindows, `c:\x`, true},
		{"untitled:Untitled-1", uri.PlatformWindows, "", false},
		{"vscode-remote://ssh/home/me", uri.PlatformPOSIX, "", false},
		{`C:\Users\me\wf.yaml`, uri.PlatformWindows, "", false},
		{"examples/wf.yaml", uri.PlatformPOSIX, "", false},
	} {
		got, ok := toPath(tc.uri, tc.on)
		if got != tc.want || ok != tc.wantFile {
			t.Errorf("toPath(%q, %v) = %q, %v; want %q, %v", tc.uri, tc.on, got, ok, tc.want, tc.wantFile)
		}
	}
}

func TestFromPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		on   uri.Platform
		want string
	}{
		{"/home/me/My proj/wf.yaml", uri.PlatformPOSIX, "file:///home/me/My%20proj/wf.yaml"},
		{`C:\Users\me\My proj\wf.yaml`, uri.PlatformWindows, "file:///c%3A/Users/me/My%20proj/wf.yaml"},
		{`C:/Users/me/wf.yaml`, uri.PlatformWindows, "file:///c%3A/Users/me/wf.yaml"},
		{`\\server\share\wf.yaml`, uri.PlatformWindows, "file://server/share/wf.yaml"},
	} {
		u := fromPath(tc.path, tc.on)
		if u != tc.want {
			t.Errorf("fromPath(%q, %v) = %q, want %q", tc.path, tc.on, u, tc.want)
		}
		// And back, to the same file.
		back, ok := toPath(u, tc.on)
		if want, _ := toPath(tc.want, tc.on); !ok || back != want {
			t.Errorf("toPath(fromPath(%q)) = %q, %v", tc.path, back, ok)
		}
	}
}
