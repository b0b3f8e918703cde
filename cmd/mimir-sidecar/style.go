package main

import (
	"io"
	"os"
	"regexp"
	"strings"
)

// style is how readable output looks: coloured on a terminal, and with
// neither colour nor emoji when the user asked for plain text (NO_COLOR,
// see no-color.org, or TERM=dumb).
type style struct {
	colour bool
	emoji  bool
	// live: a status line may be redrawn in place (a terminal that
	// understands \r and erasing the line).
	live bool
}

// styleFor is the style of output written to w, by the environment
// getenv reads.
func styleFor(w io.Writer, getenv func(string) string) style {
	plain := getenv("NO_COLOR") != "" || getenv("TERM") == "dumb"
	tty := isTerminal(w)
	return style{colour: tty && !plain, emoji: !plain, live: tty && getenv("TERM") != "dumb"}
}

// isTerminal reports whether w is a terminal (a character device): not a
// file, a pipe or a test's buffer.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// emojiRE matches a pictograph or symbol with its variation selectors and
// joiners, and the space after it, as the messages put them.
var emojiRE = regexp.MustCompile(`[\x{1F000}-\x{1FAFF}\x{2600}-\x{27BF}\x{2B00}-\x{2BFF}\x{2300}-\x{23FF}\x{25A0}-\x{25FF}][\x{FE0F}\x{200D}\x{20E3}]* ?`)

// text is s as this style shows it: without emoji in plain text.
func (st style) text(s string) string {
	if st.emoji {
		return s
	}
	return emojiRE.ReplaceAllString(s, "")
}

// ANSI colours.
const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// paint colours each line of s by what its message says: failures red,
// successes green, warnings yellow, the task's name dim.
func (st style) paint(s string) string {
	if !st.colour {
		return st.text(s)
	}
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		body := strings.TrimRight(l, "\n")
		if body == "" {
			continue
		}
		prefix := ""
		if strings.HasPrefix(body, "[") {
			if end := strings.Index(body, "] "); end > 0 {
				prefix, body = ansiDim+body[:end+1]+ansiReset+" ", body[end+2:]
			}
		}
		colour := ""
		switch {
		case strings.HasPrefix(body, "❌"), strings.HasPrefix(strings.TrimSpace(body), "✗"):
			colour = ansiRed
		case strings.HasPrefix(body, "✅"):
			colour = ansiGreen
		case strings.HasPrefix(body, "⚠️"):
			colour = ansiYellow
		}
		if colour != "" {
			body = colour + body + ansiReset
		}
		lines[i] = prefix + body + l[len(strings.TrimRight(l, "\n")):]
	}
	return strings.Join(lines, "")
}

// writer is w, without emoji when this style has none. Each Write must
// be whole lines or messages (as fmt.Fprint's are): an emoji split
// across two writes would go through.
func (st style) writer(w io.Writer) io.Writer {
	if st.emoji {
		return w
	}
	return plainWriter{w: w, st: st}
}

type plainWriter struct {
	w  io.Writer
	st style
}

func (p plainWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.st.text(string(b))); err != nil {
		return 0, err
	}
	return len(b), nil
}
