package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

// testProgram is a program with a daemon row, two rows of a group and a
// row of one word; every run records what it was given.
type testProgram struct {
	Program
	ran  string   // the row that ran
	args []string // its positional arguments
	zone string   // its --zone
}

func newTestProgram() *testProgram {
	tp := &testProgram{}
	row := func(name string, interspersed bool) Command {
		return Command{Name: name, Args: "[flags]", Summary: "the " + name + " row", Interspersed: interspersed,
			Flags: func(fs *flag.FlagSet) Func {
				zone := fs.String("zone", "", "zone of the "+name+" row")
				return func(_ context.Context, args []string) error {
					tp.ran, tp.args, tp.zone = name, args, *zone
					if len(args) > 0 && args[0] == "fail" {
						return fmt.Errorf("%s failed", name)
					}
					return nil
				}
			}}
	}
	tp.Program = Program{Name: "zonecast-x", Version: "1.2", Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{},
		Commands: []Command{row("", false), row("key add", true), row("key list", false), row("publish", false),
			{Name: "passwd", Summary: "the passwd row, which parses its own flags", Run: func(_ context.Context, args []string) error {
				tp.ran, tp.args = "passwd", args
				return nil
			}}}}
	tp.Commands[0].Help = "More about zonecast-x."
	return tp
}

func (tp *testProgram) stdout() string { return tp.Stdout.(*bytes.Buffer).String() }
func (tp *testProgram) errOut() string { return tp.Stderr.(*bytes.Buffer).String() }

func TestProgramMain(t *testing.T) {
	tests := map[string]struct {
		args   []string
		code   int
		ran    string
		pos    []string
		zone   string
		stdout string
		stderr string // a substring of standard error
	}{
		"no arguments: the program's own row": {args: nil, ran: "", pos: []string{}},
		"own row with flags":                  {args: []string{"--zone", "a.example", "extra"}, ran: "", zone: "a.example", pos: []string{"extra"}},
		"one word":                            {args: []string{"publish", "--zone", "p.example"}, ran: "publish", zone: "p.example", pos: []string{}},
		"two words":                           {args: []string{"key", "list"}, ran: "key list", pos: []string{}},
		"flags after arguments": {args: []string{"key", "add", "k1", "--zone", "z.example", "k2"}, ran: "key add",
			zone: "z.example", pos: []string{"k1", "k2"}},
		"flags stop at an argument":           {args: []string{"key", "list", "x", "--zone", "z"}, ran: "key list", pos: []string{"x", "--zone", "z"}},
		"a row parsing its own flags":         {args: []string{"passwd", "--cost", "4"}, ran: "passwd", pos: []string{"--cost", "4"}},
		"unknown word: the program's own row": {args: []string{"frob"}, ran: "", pos: []string{"frob"}},
		"group without a command": {args: []string{"key"}, code: 2,
			stderr: "zonecast-x: usage error: key needs a command (see --help)\n"},
		"group, unknown command": {args: []string{"key", "frob"}, code: 2,
			stderr: "zonecast-x: usage error: unknown command \"key\" \"frob\"\n"},
		"group help":   {args: []string{"key", "--help"}, code: 0, stderr: "  key add    the key add row\n  key list   the key list row\n"},
		"bad flag":     {args: []string{"publish", "--nope"}, code: 2, stderr: "zonecast-x publish: usage error: flag provided but not defined: -nope\n"},
		"failure":      {args: []string{"key", "add", "fail"}, code: 1, ran: "key add", pos: []string{"fail"}, stderr: "zonecast-x key add: key add failed\n"},
		"version":      {args: []string{"--version"}, stdout: "zonecast-x 1.2\n"},
		"version word": {args: []string{"version"}, stdout: "zonecast-x 1.2\n"},
		"help":         {args: []string{"--help"}, stderr: "Usage:\n  zonecast-x [flags]\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tp := newTestProgram()
			tp.ran = "none"
			if got := tp.Main(tc.args); got != tc.code {
				t.Fatalf("exit code %d, want %d; stderr %q", got, tc.code, tp.errOut())
			}
			want := tc.ran
			if tc.pos == nil {
				want = "none"
			}
			if tp.ran != want {
				t.Fatalf("ran %q, want %q", tp.ran, want)
			}
			if tc.pos != nil && (strings.Join(tp.args, " ") != strings.Join(tc.pos, " ") || tp.zone != tc.zone) {
				t.Errorf("args %q zone %q, want %q and %q", tp.args, tp.zone, tc.pos, tc.zone)
			}
			if tp.stdout() != tc.stdout {
				t.Errorf("stdout %q, want %q", tp.stdout(), tc.stdout)
			}
			if !strings.Contains(tp.errOut(), tc.stderr) {
				t.Errorf("stderr %q, want it to hold %q", tp.errOut(), tc.stderr)
			}
		})
	}
}

// Every row's --help names it, its usage, and every flag it registers.
func TestProgramHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"key", "add", "-h"}, {"key", "list", "--help"}, {"publish", "-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			tp := newTestProgram()
			if code := tp.Main(args); code != 0 {
				t.Fatalf("exit code %d, want 0", code)
			}
			c, _, err := tp.lookup(args)
			if err != nil {
				t.Fatal(err)
			}
			out := tp.errOut()
			for _, want := range []string{
				tp.title(c) + ": " + c.Summary + "\n",
				"Usage:\n  " + tp.title(c) + " [flags]\n",
				"  --zone string\n        zone of the " + c.Summary[len("the "):len(c.Summary)-len(" row")] + " row\n        env ZONECAST_ZONE\n",
			} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			if tp.ran != "" {
				t.Errorf("--help ran %q", tp.ran)
			}
		})
	}
}

// The program's own help lists every other row, its --version and its
// Help; a command's help lists no other row.
func TestProgramHelpListsCommands(t *testing.T) {
	tp := newTestProgram()
	tp.Main([]string{"--help"})
	want := `zonecast-x: the  row

Usage:
  zonecast-x [flags]
  zonecast-x COMMAND [flags]
  zonecast-x --version

Commands (each with its own --help):
  key add    the key add row
  key list   the key list row
  publish    the publish row
  passwd     the passwd row, which parses its own flags

More about zonecast-x.

Flags (each also read from the environment variable shown):
`
	if out := tp.errOut(); !strings.HasPrefix(out, want) {
		t.Errorf("help:\n%s\nwant it to start with:\n%s", out, want)
	}
	tp = newTestProgram()
	tp.Main([]string{"publish", "--help"})
	if out := tp.errOut(); strings.Contains(out, "key add") || strings.Contains(out, "--version") {
		t.Errorf("publish --help lists other commands:\n%s", out)
	}
}

func TestProgramFlagsFromEnvironment(t *testing.T) {
	t.Setenv("ZONECAST_ZONE", "env.example")
	for _, args := range [][]string{{"publish"}, {"key", "add", "k"}} {
		tp := newTestProgram()
		if code := tp.Main(args); code != 0 {
			t.Fatalf("%q: exit code %d: %s", args, code, tp.errOut())
		}
		if tp.zone != "env.example" {
			t.Errorf("%q: zone %q, want it from ZONECAST_ZONE", args, tp.zone)
		}
		tp = newTestProgram()
		if tp.Main(append(args, "--zone", "flag.example")); tp.zone != "flag.example" {
			t.Errorf("%q: zone %q: the command line must win over the environment", args, tp.zone)
		}
	}
}

func TestParseUsageErrors(t *testing.T) {
	t.Parallel()
	none := func(string) (string, bool) { return "", false }
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.Int("n", 0, "")
	if err := Parse(fs, []string{"--n", "x"}, none); err == nil || !strings.HasPrefix(err.Error(), "usage error: ") {
		t.Errorf("bad value: %v, want a usage error", err)
	}
	if err := Parse(fs, []string{"--help"}, none); err != flag.ErrHelp {
		t.Errorf("help: %v, want flag.ErrHelp as it is", err)
	}
	bad := func(k string) (string, bool) { return "many", k == "ZONECAST_N" }
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Int("n", 0, "")
	if _, err := parseInterspersed(fs, []string{"a"}, bad); err == nil || !strings.HasPrefix(err.Error(), "usage error: ") {
		t.Errorf("bad value from the environment: %v, want a usage error", err)
	}
}

func TestProgramCheck(t *testing.T) {
	if err := newTestProgram().Check(); err != nil {
		t.Fatal(err)
	}
	tp := newTestProgram()
	tp.Commands = append(tp.Commands, Command{Name: "publish", Summary: "again", Flags: tp.Commands[3].Flags},
		Command{Name: "bare"})
	err := tp.Check()
	for _, want := range []string{"zonecast-x publish: a second row of that name", "zonecast-x bare: no summary, or not one of flags and run"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check = %v, want it to say %q", err, want)
		}
	}
}

// testConfig is a command's configuration: its --n, checked positive.
type testConfig struct{ n int }

func registerTest(fs *flag.FlagSet) func(args []string) (*testConfig, error) {
	c := &testConfig{}
	fs.IntVar(&c.n, "n", 1, "a positive number")
	return func(args []string) (*testConfig, error) {
		if c.n <= 0 || len(args) > 0 {
			return nil, fmt.Errorf("%w: --n %d, %d arguments", ErrUsage, c.n, len(args))
		}
		return c, nil
	}
}

func TestConfigFlagsAndParseConfig(t *testing.T) {
	t.Parallel()
	env := func(k string) (string, bool) { return "7", k == "ZONECAST_N" }
	none := func(string) (string, bool) { return "", false }
	tests := map[string]struct {
		args   []string
		lookup func(string) (string, bool)
		n      int
		err    error
	}{
		"default":        {lookup: none, n: 1},
		"flag":           {args: []string{"--n", "3"}, lookup: env, n: 3},
		"environment":    {lookup: env, n: 7},
		"check fails":    {args: []string{"--n", "0"}, lookup: none, err: ErrUsage},
		"stray argument": {args: []string{"x"}, lookup: none, err: ErrUsage},
		"parse fails":    {args: []string{"--n", "x"}, lookup: none, err: ErrUsage},
		"help":           {args: []string{"--help"}, lookup: none, err: flag.ErrHelp},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseConfig("zonecast-x", registerTest, tc.args, tc.lookup, &bytes.Buffer{})
			if !errors.Is(err, tc.err) || (err == nil && c.n != tc.n) {
				t.Fatalf("ParseConfig = %+v, %v; want n %d, error %v", c, err, tc.n, tc.err)
			}
		})
	}
	// The row runs run with the checked configuration, and not when the
	// check fails.
	var got *testConfig
	fs := flag.NewFlagSet("zonecast-x", flag.ContinueOnError)
	fn := ConfigFlags(registerTest, func(_ context.Context, c *testConfig) error { got = c; return nil })(fs)
	if err := fs.Parse([]string{"--n", "5"}); err != nil {
		t.Fatal(err)
	}
	if err := fn(context.Background(), nil); err != nil || got == nil || got.n != 5 {
		t.Fatalf("run got %+v, %v; want n 5", got, err)
	}
	got = nil
	if err := fn(context.Background(), []string{"x"}); !errors.Is(err, ErrUsage) || got != nil {
		t.Fatalf("a failed check: %v, ran with %+v", err, got)
	}
}
