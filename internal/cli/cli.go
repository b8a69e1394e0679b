// Package cli holds what the zonecast commands share: a program as a
// table of commands (Program, Command: each its flags, run function and
// help), the flag groups for NATS client authentication and logging,
// flags read from ZONECAST_* variables (Parse), the scaffolding of main
// (Run: signals and exit codes) and of a daemon (Daemon: its logger,
// start and stop lines; ConnectStream; Group; the metrics registry).
// main packages stay wiring only.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/bus"
	"github.com/zonecast/zonecast/internal/logging"
)

// NATSFlags registers the NATS client flags on fs and returns the config
// they fill. defaultURL may be empty (the syncer's embedded server).
func NATSFlags(fs *flag.FlagSet, defaultURL, urlHelp string) *bus.ClientConfig {
	c := &bus.ClientConfig{}
	fs.StringVar(&c.URL, "nats-url", defaultURL, urlHelp)
	fs.StringVar(&c.User, "nats-user", "zonecast", "NATS user name (with --nats-password-file)")
	fs.StringVar(&c.PasswordFile, "nats-password-file", "", "file holding the NATS password")
	fs.StringVar(&c.CredsFile, "nats-creds-file", "", "NATS credentials file (JWT and nkey seed), instead of user and password")
	fs.StringVar(&c.NkeySeedFile, "nats-nkey-seed-file", "", "NATS nkey seed file (made by zonecast-syncer nkey), instead of user and password")
	fs.StringVar(&c.TLSCAFile, "nats-tls-ca", "", "CA bundle to verify the NATS server (enables TLS)")
	fs.StringVar(&c.TLSCertFile, "nats-tls-cert", "", "client certificate for NATS TLS")
	fs.StringVar(&c.TLSKeyFile, "nats-tls-key", "", "client key for NATS TLS")
	return c
}

// DefaultPasswordFiles are the password files a client on a syncer's
// machine falls back to, in order: the syncer's own password as the
// Debian package keeps it, and the one the syncer generates for its
// embedded server without one.
var DefaultPasswordFiles = []string{"/etc/zonecast/nats-password", "/var/lib/zonecast/nats-password"}

// DefaultPasswordFile names the fallbacks in help texts.
var DefaultPasswordFile = strings.Join(DefaultPasswordFiles, " or ")

// LocalAuthDefaults completes a client config after parsing: with no
// password, creds, nkey or token file given, it uses the first of
// DefaultPasswordFiles that this user can read; without a password file
// the user name is dropped (it goes with a password only).
func LocalAuthDefaults(c *bus.ClientConfig) {
	if c.PasswordFile == "" && c.CredsFile == "" && c.NkeySeedFile == "" && c.TokenFile == "" {
		c.PasswordFile = FirstReadable(DefaultPasswordFiles...)
	}
	if c.PasswordFile == "" {
		c.User = ""
	}
}

// FirstReadable returns the first of paths that is a regular file this
// process can open, or "".
func FirstReadable(paths ...string) string {
	for _, p := range paths {
		if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if f, err := os.Open(p); err == nil {
			f.Close()
			return p
		}
	}
	return ""
}

// LogFlags registers --log-level and --log-format.
type LogFlags struct{ Level, Format string }

// Register adds the logging flags to fs.
func (l *LogFlags) Register(fs *flag.FlagSet) {
	fs.StringVar(&l.Level, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&l.Format, "log-format", "json", "log format: json or console")
}

// Logger builds the logger the flags describe; a bad level or format is a
// usage error (ErrUsage).
func (l *LogFlags) Logger(w io.Writer) (zerolog.Logger, error) {
	log, err := logging.New(w, l.Level, l.Format)
	if err != nil {
		return log, fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return log, nil
}
