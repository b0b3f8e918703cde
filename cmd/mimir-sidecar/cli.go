package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// usageError is a command line the command cannot run: a bad flag value, a
// missing argument, flags that contradict each other. It exits with status
// 2, before anything ran, after saying what to change.
type usageError struct {
	cmd string // the subcommand, for "mimir-sidecar run -h"
	msg string
}

func (e usageError) Error() string { return e.msg }

// usagef reports a command line cmd cannot run.
func usagef(cmd, format string, args ...any) error {
	return usageError{cmd: cmd, msg: fmt.Sprintf(format, args...)}
}

// printUsageError says what is wrong with the command line and where help is.
func printUsageError(w io.Writer, e usageError) {
	fmt.Fprintf(w, "mimir-sidecar %s: %s\nRun \"mimir-sidecar %s -h\" for its flags.\n", e.cmd, e.msg, e.cmd)
}

// newFlagSet is a subcommand's flags; its usage starts with synopsis, the
// lines before the flags, and goes wherever the flag set's output is: the
// standard output when asked for with -h, the standard error after a
// mistake.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), strings.TrimRight(synopsis, "\n")+"\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses flags wherever they stand among the arguments, so
// "run wf.yaml --json" works as well as "run --json wf.yaml". Asked for
// help (-h, --help), it prints the usage on stdout and returns
// flag.ErrHelp (exit status 0); a flag it cannot parse is a usageError.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) ([]string, error) {
	// The flag package prints its complaint and the usage as it parses;
	// held until it is known whether they answer -h or a mistake.
	var msg bytes.Buffer
	fs.SetOutput(&msg)
	pos, err := parseAll(fs, args)
	fs.SetOutput(io.Discard)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return nil, flag.ErrHelp
	case err != nil:
		return nil, usagef(fs.Name(), "%v", err)
	}
	return pos, nil
}

func parseAll(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// setFlags is the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// noArgs refuses arguments to a command that takes only flags.
func noArgs(cmd string, pos []string) error {
	if len(pos) > 0 {
		return usagef(cmd, "unexpected argument %q: this command takes only flags", pos[0])
	}
	return nil
}

// helpCmd prints the overview, or with a command's name that command's
// usage, as "COMMAND -h" does.
func helpCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return nil
	}
	if len(args) > 1 {
		return usagef("help", "one command at a time: mimir-sidecar help COMMAND")
	}
	if code := run(ctx, []string{args[0], "-h"}, nil, stdout, stderr); code != 0 {
		return exitError{code}
	}
	return nil
}
