// Package health serves the operational HTTP endpoints of every daemon:
// /healthz (the process runs), /readyz (it has done its first job) and
// Prometheus /metrics.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ready is a readiness flag with a reason while not ready.
type Ready struct {
	reason atomic.Pointer[string]
}

// NewReady returns a flag that is not ready, for reason.
func NewReady(reason string) *Ready {
	r := &Ready{}
	r.NotReady(reason)
	return r
}

// Set marks the process ready.
func (r *Ready) Set() { r.reason.Store(nil) }

// NotReady marks the process not ready, for reason.
func (r *Ready) NotReady(reason string) { r.reason.Store(&reason) }

// Reason returns why the process is not ready, or "" when it is.
func (r *Ready) Reason() string {
	if p := r.reason.Load(); p != nil {
		return *p
	}
	return ""
}

// Handler returns the mux with the three endpoints; extra handlers may be
// added by the caller.
func Handler(reg *prometheus.Registry, ready *Ready) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if reason := ready.Reason(); reason != "" {
			http.Error(w, "not ready: "+reason, http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return mux
}

// AddPprof serves Go's profiler under /debug/pprof/ on mux.
func AddPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// Serve listens on addr and serves h until ctx is done. An empty addr
// serves nothing and returns when ctx is done.
func Serve(ctx context.Context, addr string, h http.Handler) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for http on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving http on %s: %w", addr, err)
	}
	return nil
}
