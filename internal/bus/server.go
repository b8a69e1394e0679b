package bus

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"
)

// ServerConfig configures an embedded nats-server with JetStream.
type ServerConfig struct {
	// StoreDir holds the JetStream files (e.g. <state-dir>/jetstream).
	StoreDir string
	// Listen is the client address, e.g. "127.0.0.1:4222"; port 0 picks a
	// free one (see server.Server.Addr). Empty means no TCP listener: only
	// in-process clients (ConnectInProcess).
	Listen string
	// User and Password are required of every client, TCP or in-process.
	// They are mandatory whenever Listen is set.
	User     string
	Password string
	// Name is the server name (the node id). It must be unique in a
	// cluster: JetStream uses it to place stream replicas.
	Name string
	// Cluster, if set, joins the server to a cluster of embedded servers
	// (see ClusterConfig).
	Cluster *ClusterConfig
	// Users are further client users with role permissions (a users file,
	// see ParseUsers). User/Password stay the unrestricted user of the
	// syncer itself.
	Users []UserSpec
	// Permissions scope: the subject prefix, the record stream and the
	// status bucket the roles of Users are confined to (defaults apply).
	Scope Scope
	// TLSCertFile and TLSKeyFile, if set, make the client listener require
	// TLS; with TLSCAFile clients must also present a certificate signed by
	// that CA.
	TLSCertFile, TLSKeyFile, TLSCAFile string
	// Log receives the server's own log lines, tagged component=nats-server.
	Log zerolog.Logger
}

// readyTimeout bounds how long StartEmbedded waits for the server.
const readyTimeout = 10 * time.Second

// StartEmbedded starts an embedded nats-server with JetStream enabled and
// waits until it accepts connections. The caller owns it: Shutdown() then
// WaitForShutdown() to stop it.
func StartEmbedded(cfg ServerConfig) (*server.Server, error) {
	if cfg.StoreDir == "" {
		return nil, errors.New("starting nats-server: no store directory")
	}
	if (cfg.User == "") != (cfg.Password == "") {
		return nil, errors.New("starting nats-server: user and password go together")
	}
	opts := &server.Options{
		ServerName: cfg.Name,
		JetStream:  true,
		StoreDir:   cfg.StoreDir,
		NoSigs:     true,
		Username:   cfg.User,
	}
	if cfg.Password != "" {
		// The server keeps only a bcrypt hash of the password. The minimum
		// cost keeps each connection's check cheap (the default cost takes
		// seconds under -race on 2 cores); it is enough for the random
		// 256-bit passwords of EnsurePassword, not for weak ones.
		hash, err := bcrypt.GenerateFromPassword([]byte(cfg.Password), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("starting nats-server: hashing the password: %w", err)
		}
		opts.Password = string(hash)
	}
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		if cfg.User == "" {
			return nil, fmt.Errorf("starting nats-server on %s: a TCP listener requires a user and password", cfg.Listen)
		}
		host, portStr, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("starting nats-server: parsing listen address %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < 0 || port > 65535 {
			return nil, fmt.Errorf("starting nats-server: bad port in listen address %q", cfg.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	if err := applyUsers(opts, cfg); err != nil {
		return nil, fmt.Errorf("starting nats-server: %w", err)
	}
	if err := applyClientTLS(opts, cfg); err != nil {
		return nil, fmt.Errorf("starting nats-server: %w", err)
	}
	if cfg.Cluster != nil {
		if err := applyCluster(opts, *cfg.Cluster); err != nil {
			return nil, fmt.Errorf("starting nats-server: %w", err)
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("starting nats-server: %w", err)
	}
	log := cfg.Log.With().Str("component", "nats-server").Logger()
	debug := log.GetLevel() <= zerolog.DebugLevel && zerolog.GlobalLevel() <= zerolog.DebugLevel
	srv.SetLoggerV2(serverLogger{log}, debug, false, false)
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("starting nats-server: not ready for connections after %s", readyTimeout)
	}
	return srv, nil
}

// serverLogger adapts zerolog to the nats-server logger. Fatalf logs at
// error level and does not exit: the server handles its own failures.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Info().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Fatalf(format string, v ...any) {
	l.log.Error().Bool("fatal", true).Msgf(format, v...)
}
func (l serverLogger) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }
