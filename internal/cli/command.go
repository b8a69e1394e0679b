package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/zonecast/zonecast/internal/config"
)

// Func runs a command with its positional arguments, once its flags are
// parsed.
type Func func(ctx context.Context, args []string) error

// Command is one row of a program's table of commands.
type Command struct {
	// Name is the words that select the command after the program's
	// name: "publish", "key add". The program's own row, what runs
	// without a command (a daemon), has none.
	Name string
	// Args is what follows the name on the command's usage line, e.g.
	// "NAME --zone ZONE [flags]"; one line per form of the command.
	Args string
	// Summary says what the command does in one line: its row in the
	// program's help, and the first line of its own.
	Summary string
	// Help is what the command's --help says after its usage lines and
	// before its flags; may be empty.
	Help string
	// Flags registers the command's flags on fs and returns what runs
	// the command once they, and then their ZONECAST_* variables, are
	// parsed.
	Flags func(fs *flag.FlagSet) Func
	// Run, instead of Flags, runs a command that parses its own flags
	// (and prints its own help) with all its arguments.
	Run Func
	// Interspersed lets flags come after positional arguments, as in
	// "key add NAME --zone ZONE".
	Interspersed bool
}

// Program is a command-line program as a table of commands.
type Program struct {
	Name     string // e.g. zonecast-syncer
	Version  string
	Commands []Command
	// Stdout receives the version, Stderr help, usage and errors; nil
	// means os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Main runs the command args select, with a context cancelled on SIGINT
// or SIGTERM, and returns the process exit code as Run does. The first
// words of args select the row whose Name they match, the longest
// first; without a match, the program's own row runs with all of args.
// A first word that only begins names ("key" of "key add") is a usage
// error without a name's second word, and with --help lists those rows.
// "version", --version or -version print the program's name and version.
func (p *Program) Main(args []string) int {
	if IsVersion(args) {
		fmt.Fprintln(or(p.Stdout, os.Stdout), p.Name, p.Version)
		return 0
	}
	c, rest, err := p.lookup(args)
	if err != nil {
		return exitCode(p.stderr(), p.Name, err)
	}
	return run(p.stderr(), p.title(c), rest, func(ctx context.Context, args []string) error {
		return p.run(ctx, c, args)
	})
}

// run parses c's flags from args and runs c.
func (p *Program) run(ctx context.Context, c Command, args []string) error {
	if c.Run != nil {
		return c.Run(ctx, args)
	}
	fs := flag.NewFlagSet(p.title(c), flag.ContinueOnError)
	fs.SetOutput(p.stderr())
	var fn Func
	if c.Flags != nil {
		fn = c.Flags(fs)
	}
	fs.Usage = config.Usage(fs, p.help(c))
	var err error
	if c.Interspersed {
		args, err = parseInterspersed(fs, args, os.LookupEnv)
	} else if err = Parse(fs, args, os.LookupEnv); err == nil {
		args = fs.Args()
	}
	if err != nil || fn == nil {
		return err
	}
	return fn(ctx, args)
}

// lookup returns the row args select and the arguments after its name.
func (p *Program) lookup(args []string) (Command, []string, error) {
	best, words := -1, 0
	for i, c := range p.Commands {
		w := strings.Fields(c.Name)
		if len(w) > words && len(w) <= len(args) && slices.Equal(w, args[:len(w)]) {
			best, words = i, len(w)
		}
	}
	if best >= 0 {
		return p.Commands[best], args[words:], nil
	}
	if len(args) > 0 {
		if group := p.group(args[0]); len(group) > 0 {
			switch {
			case len(args) == 1:
				return Command{}, nil, fmt.Errorf("%w: %s needs a command (see --help)", ErrUsage, args[0])
			case isHelp(args[1]):
				fmt.Fprintf(p.stderr(), "Commands of %s %s (each with its own --help):\n", p.Name, args[0])
				p.list(p.stderr(), group)
				return Command{}, nil, flag.ErrHelp
			}
			return Command{}, nil, fmt.Errorf("%w: unknown command %q %q", ErrUsage, args[0], args[1])
		}
	}
	for _, c := range p.Commands {
		if c.Name == "" {
			return c, args, nil
		}
	}
	return Command{}, nil, fmt.Errorf("%w: no command given (see --help)", ErrUsage)
}

// group returns the rows whose name has more than one word, the first
// of them word: "key" groups "key add", "key list" and "key remove".
func (p *Program) group(word string) []Command {
	var out []Command
	for _, c := range p.Commands {
		if strings.HasPrefix(c.Name, word+" ") {
			out = append(out, c)
		}
	}
	return out
}

// help is the text c's --help prints before its flags. The program's own
// row lists every other row of the table.
func (p *Program) help(c Command) string {
	var b strings.Builder
	title := p.title(c)
	fmt.Fprintf(&b, "%s: %s\n\nUsage:\n", title, c.Summary)
	for _, form := range strings.Split(c.Args, "\n") {
		fmt.Fprintln(&b, strings.TrimRight("  "+title+" "+form, " "))
	}
	if c.Name == "" {
		var others []Command
		for _, o := range p.Commands {
			if o.Name != "" {
				others = append(others, o)
			}
		}
		if len(others) > 0 {
			fmt.Fprintf(&b, "  %s COMMAND [flags]\n", p.Name)
		}
		fmt.Fprintf(&b, "  %s --version\n", p.Name)
		if len(others) > 0 {
			b.WriteString("\nCommands (each with its own --help):\n")
			p.list(&b, others)
		}
	}
	if c.Help != "" {
		fmt.Fprintf(&b, "\n%s\n", c.Help)
	}
	return strings.TrimRight(b.String(), "\n")
}

// list writes one line per command: its name and summary.
func (p *Program) list(w io.Writer, cs []Command) {
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	for _, c := range cs {
		fmt.Fprintf(tw, "  %s\t%s\n", c.Name, c.Summary)
	}
	tw.Flush()
}

func (p *Program) title(c Command) string {
	if c.Name == "" {
		return p.Name
	}
	return p.Name + " " + c.Name
}

func (p *Program) stderr() io.Writer { return or(p.Stderr, os.Stderr) }

func or(w, dflt io.Writer) io.Writer {
	if w == nil {
		return dflt
	}
	return w
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// Parse parses args into fs, then sets every flag not given there from
// its ZONECAST_* variable, as lookup finds it. It returns flag.ErrHelp as
// it is (fs has printed its usage), any other failure as a usage error.
// Program parses every row's flags with it; a command that parses its own
// (Command.Run) calls it itself.
func Parse(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return usageError(err)
	}
	if err := config.ApplyEnv(fs, lookup); err != nil {
		return usageError(err)
	}
	return nil
}

// parseInterspersed is Parse for a command whose flags may follow its
// positional arguments (Command.Interspersed); it returns those arguments.
func parseInterspersed(fs *flag.FlagSet, args []string, lookup func(string) (string, bool)) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError(err)
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if err := config.ApplyEnv(fs, lookup); err != nil {
		return nil, usageError(err)
	}
	return pos, nil
}

func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrUsage, err)
}

// Check checks the table: every row has a summary and either flags or a
// run function, no two rows have the same name, and each row's --help
// exits 0 and, but for a row that prints its own, lists each of its flags
// with its variable. The commands' tests call it.
func (p *Program) Check() error {
	var errs []error
	seen := map[string]bool{}
	for _, c := range p.Commands {
		title := p.title(c)
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s: a second row of that name", title))
		}
		seen[c.Name] = true
		if c.Summary == "" || (c.Flags == nil) == (c.Run == nil) {
			errs = append(errs, fmt.Errorf("%s: no summary, or not one of flags and run", title))
			continue
		}
		var out strings.Builder
		q := *p
		q.Stdout, q.Stderr = &out, &out
		if code := q.Main(append(strings.Fields(c.Name), "--help")); code != 0 {
			errs = append(errs, fmt.Errorf("%s --help: exit code %d: %s", title, code, out.String()))
			continue
		}
		if c.Run != nil {
			continue
		}
		help := out.String()
		if !strings.HasPrefix(help, title+": "+c.Summary+"\n") {
			errs = append(errs, fmt.Errorf("%s --help does not start with its summary:\n%s", title, help))
		}
		fs := flag.NewFlagSet(title, flag.ContinueOnError)
		c.Flags(fs)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(help, "\n  --"+f.Name+" ") || !strings.Contains(help, "env "+config.EnvName(f.Name)+"\n") {
				errs = append(errs, fmt.Errorf("%s --help does not list --%s with its variable", title, f.Name))
			}
		})
	}
	return errors.Join(errs...)
}

// ConfigFlags makes a row's Flags of register, which registers the
// command's flags on fs and returns what checks them, once parsed, into
// the command's configuration, and of run, which runs the command with
// it.
func ConfigFlags[C any](register func(fs *flag.FlagSet) func(args []string) (C, error), run func(ctx context.Context, c C) error) func(*flag.FlagSet) Func {
	return func(fs *flag.FlagSet) Func {
		check := register(fs)
		return func(ctx context.Context, args []string) error {
			c, err := check(args)
			if err != nil {
				return err
			}
			return run(ctx, c)
		}
	}
}

// LookupMap looks ZONECAST_* variables up in kv: the environment of a
// command's flag tests (ParseConfig).
func LookupMap(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

// ParseConfig parses and checks args as the row ConfigFlags makes of
// register does, in a flag set named name that prints to out, with the
// ZONECAST_* variables lookup finds: the seam of a command's flag tests.
func ParseConfig[C any](name string, register func(fs *flag.FlagSet) func(args []string) (C, error), args []string,
	lookup func(string) (string, bool), out io.Writer) (C, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	check := register(fs)
	if err := Parse(fs, args, lookup); err != nil {
		var zero C
		return zero, err
	}
	return check(fs.Args())
}
