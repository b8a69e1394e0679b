// Package config binds command-line flags to ZONECAST_* environment
// variables and reads secrets from files.
package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// EnvPrefix starts every environment variable zonecast reads.
const EnvPrefix = "ZONECAST_"

// EnvName returns the environment variable of a flag: --pdns-api-key-file
// is ZONECAST_PDNS_API_KEY_FILE.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// List is a repeatable string flag. From the environment it takes a
// comma-separated list.
type List []string

func (l *List) String() string { return strings.Join(*l, ",") }

// Set appends one value.
func (l *List) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// ApplyEnv sets every flag of fs that was not given on the command line
// from its environment variable, if that is set. Call it after fs.Parse.
// Command-line flags win over the environment.
func ApplyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		v, ok := lookup(EnvName(f.Name))
		if !ok {
			return
		}
		values := []string{v}
		if _, isList := f.Value.(*List); isList {
			values = splitList(v)
		}
		for _, x := range values {
			if err := f.Value.Set(x); err != nil {
				errs = append(errs, fmt.Errorf("setting --%s from %s: %w", f.Name, EnvName(f.Name), err))
			}
		}
	})
	return errors.Join(errs...)
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Parse parses args into fs and then applies the environment.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	return ApplyEnv(fs, os.LookupEnv)
}

// Usage returns a usage function that lists each flag with its
// environment variable.
func Usage(fs *flag.FlagSet, synopsis string) func() {
	return func() {
		w := fs.Output()
		fmt.Fprintf(w, "%s\n\nFlags (each also read from the environment variable shown):\n", synopsis)
		fs.VisitAll(func(f *flag.Flag) {
			name, usage := flag.UnquoteUsage(f)
			fmt.Fprintf(w, "  --%s %s\n", f.Name, name)
			fmt.Fprintf(w, "        %s", strings.ReplaceAll(usage, "\n", "\n        "))
			if f.DefValue != "" && f.DefValue != "[]" && f.DefValue != "false" {
				fmt.Fprintf(w, " (default %q)", f.DefValue)
			}
			fmt.Fprintf(w, "\n        env %s\n", EnvName(f.Name))
		})
	}
}

// ReadSecret returns the content of a secret file with surrounding
// whitespace trimmed. An empty secret is refused. Errors name the path,
// never the content.
func ReadSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("reading secret file %s: file is empty", path)
	}
	return s, nil
}
