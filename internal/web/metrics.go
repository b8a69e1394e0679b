package web

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the web page's Prometheus series.
type Metrics struct {
	requests *prometheus.CounterVec // by page and status code
	logins   *prometheus.CounterVec // by result
}

// Login results counted.
const (
	loginOK          = "ok"
	loginFailed      = "failed" // unknown user, wrong password or code
	loginLocked      = "locked"
	loginTOTPNeeded  = "totp_needed"
	loginRateLimited = "rate_limited"
	loginCSRF        = "csrf"
	loginError       = "error"
)

// NewMetrics registers the series on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_web_requests_total",
			Help: "Web page requests answered, by page and HTTP status code."}, []string{"page", "code"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "zonecast_web_logins_total",
			Help: "Login attempts on the web page, by result (ok, failed, locked, totp_needed, rate_limited, csrf, error)."}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.logins)
	}
	return m
}

func (m *Metrics) login(result string) { m.logins.WithLabelValues(result).Inc() }

// count wraps h to count its answers as page.
func (m *Metrics) count(page string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.code == 0 {
			sw.code = http.StatusOK
		}
		m.requests.WithLabelValues(page, strconv.Itoa(sw.code)).Inc()
	})
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
