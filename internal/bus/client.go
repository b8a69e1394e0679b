package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/rs/zerolog"

	"github.com/zonecast/zonecast/internal/config"
	"github.com/zonecast/zonecast/internal/retry"
)

// ClientConfig says how to reach and authenticate to a NATS server.
// Secrets are named by file, read at Connect and never logged.
type ClientConfig struct {
	// URL is one server URL or a comma-separated list.
	URL string
	// User and PasswordFile: user/password authentication.
	User         string
	PasswordFile string
	// CredsFile: a NATS credentials file (JWT + nkey seed).
	CredsFile string
	// NkeySeedFile: a file holding a user nkey seed (SU...), whose public
	// key is listed in the server's users file.
	NkeySeedFile string
	// TokenFile: token authentication.
	TokenFile string
	// TLS: CA bundle to verify the server, and a client certificate.
	TLSCAFile, TLSCertFile, TLSKeyFile string
	// Name is the connection name shown by the server.
	Name string
}

// reconnectBackoff paces the connections to NATS and the JetStream
// requests retried while a cluster elects its leaders; its jitter keeps a
// fleet that lost its server at once from coming back in lockstep.
var reconnectBackoff = retry.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}

// reconnectDelay is nats.CustomReconnectDelay's schedule: attempts counts
// the passes over the server list, from 1.
func reconnectDelay(attempts int) time.Duration { return reconnectBackoff.Delay(attempts - 1) }

// Connect connects to NATS; its errors say "connecting to nats". It
// retries the first connection with backoff until it succeeds or ctx is
// done; an authentication failure is returned at once. Once connected the
// connection reconnects forever with backoff, and logs disconnections,
// reconnections and asynchronous errors.
func Connect(ctx context.Context, cfg ClientConfig, log zerolog.Logger) (*nats.Conn, error) {
	log = log.With().Str("component", "nats").Logger()
	opts, err := clientOptions(cfg, log)
	if err != nil {
		return nil, fmt.Errorf("connecting to nats: %w", err)
	}
	var nc *nats.Conn
	err = retry.Loop{
		Backoff: reconnectBackoff,
		// Credentials the server refused stay refused.
		Retryable: func(err error) bool {
			return !errors.Is(err, nats.ErrAuthorization) && !errors.Is(err, nats.ErrAuthExpired) && !errors.Is(err, nats.ErrAuthRevoked)
		},
		Notify: func(_ int, err error, d time.Duration) {
			log.Warn().Err(err).Dur("retry_in", d).Msg("connecting to nats failed")
		},
	}.Do(ctx, func(context.Context) error {
		var err error
		nc, err = nats.Connect(cfg.URL, opts...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("connecting to nats: %w", err)
	}
	log.Info().Str("url", nc.ConnectedUrlRedacted()).Str("server", nc.ConnectedServerName()).Msg("connected to nats")
	return nc, nil
}

func clientOptions(cfg ClientConfig, log zerolog.Logger) ([]nats.Option, error) {
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.IgnoreAuthErrorAbort(),
		nats.CustomReconnectDelay(reconnectDelay),
	}
	opts = append(opts, logHandlers(log)...)
	if cfg.CredsFile != "" || cfg.NkeySeedFile != "" || cfg.TokenFile != "" {
		// Those authenticate by themselves; a default user name is moot.
		if cfg.PasswordFile == "" {
			cfg.User = ""
		}
	}
	if (cfg.User == "") != (cfg.PasswordFile == "") {
		return nil, errors.New("configuring nats client: a user needs a password file (--nats-password-file), or use a creds, nkey or token file")
	}
	if cfg.PasswordFile != "" {
		pw, err := config.ReadSecret(cfg.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("configuring nats client: %w", err)
		}
		opts = append(opts, nats.UserInfo(cfg.User, pw), nats.CustomInboxPrefix(InboxPrefix(cfg.User)))
	}
	if cfg.TokenFile != "" {
		tok, err := config.ReadSecret(cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("configuring nats client: %w", err)
		}
		opts = append(opts, nats.Token(tok))
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.NkeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("configuring nats client: reading nkey seed file %s: %w", cfg.NkeySeedFile, err)
		}
		pub, err := nkeyPublic(cfg.NkeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("configuring nats client: %w", err)
		}
		opts = append(opts, o, nats.CustomInboxPrefix(InboxPrefix(pub)))
	}
	if cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCAFile))
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, errors.New("configuring nats client: TLS certificate and key go together")
	}
	if cfg.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCertFile, cfg.TLSKeyFile))
	}
	return opts, nil
}

// InboxPrefix is where the replies and deliveries of a user of a users
// file arrive, and the only inboxes its permissions let it subscribe to
// (RolePermissions): with the shared _INBOX.>, any user could read every
// other user's replies, the gateway's reads of its TSIG keys among them.
// Clients of zonecast's own commands set it by themselves; other clients
// must set it too (nats --inbox-prefix).
func InboxPrefix(user string) string {
	b := []byte("_INBOX_" + user)
	for i := len("_INBOX_"); i < len(b); i++ {
		if c := b[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// nkeyPublic returns the public key of the user seed in path.
func nkeyPublic(path string) (string, error) {
	seed, err := config.ReadSecret(path)
	if err != nil {
		return "", err
	}
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		return "", fmt.Errorf("reading nkey seed file %s: %w", path, err)
	}
	defer kp.Wipe()
	return kp.PublicKey()
}

func logHandlers(log zerolog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn().Err(err).Msg("disconnected from nats")
			} else {
				log.Info().Msg("disconnected from nats")
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("reconnected to nats")
		}),
		nats.ReconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Debug().Err(err).Msg("reconnect attempt failed")
		}),
		nats.ClosedHandler(func(_ *nats.Conn) {
			log.Info().Msg("nats connection closed")
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			ev := log.Error().Err(err)
			if sub != nil {
				ev = ev.Str("subject", sub.Subject)
			}
			ev.Msg("nats async error")
		}),
	}
}

// ConnectInProcess connects to an embedded server without a socket. user
// and password are those of ServerConfig (empty when it has none).
func ConnectInProcess(srv *server.Server, user, password string, log zerolog.Logger) (*nats.Conn, error) {
	log = log.With().Str("component", "nats").Logger()
	opts := append([]nats.Option{nats.InProcessServer(srv), nats.Name("in-process")}, logHandlers(log)...)
	if user != "" {
		opts = append(opts, nats.UserInfo(user, password), nats.CustomInboxPrefix(InboxPrefix(user)))
	}
	nc, err := nats.Connect("", opts...)
	if err != nil {
		return nil, fmt.Errorf("connecting in-process to nats: %w", err)
	}
	return nc, nil
}
