package winname

import "testing"

func TestReserved(t *testing.T) {
	for name, want := range map[string]bool{
		"CON": true, "con": true, "Con.txt": true, "nul.tar.gz": true, "LPT1": true, "com9.md": true, "COM0": true, "AUX ": true,
		"CONSOLE": false, "COM10": false, "LPTX": false, "a.con": false, "x": false, "": false, "NULL": false,
	} {
		if got := Reserved(name); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", name, got, want)
		}
	}
}
