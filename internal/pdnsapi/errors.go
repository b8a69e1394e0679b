package pdnsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/joeig/go-powerdns/v3"
)

// Sentinels an *Error matches with errors.Is, by HTTP status.
var (
	// ErrRejected: 400 or 422, PowerDNS refused this payload; retrying the
	// same payload fails again.
	ErrRejected = errors.New("rejected by powerdns")
	// ErrServer: 5xx (gsqlite3 "database is locked" included); retry later.
	ErrServer = errors.New("powerdns server error")
	// ErrNotFound: 404, no such zone (or server id).
	ErrNotFound = errors.New("not found in powerdns")
	// ErrConflict: 409, e.g. creating a zone that exists.
	ErrConflict = errors.New("conflict in powerdns")
	// ErrUnauthorized: 401 or 403, wrong API key or address not allowed.
	ErrUnauthorized = errors.New("unauthorized by powerdns")
	// ErrZoneNotFound: PowerDNS has no such zone: 404, or the 422 "Could
	// not find domain" that some calls (an RRset read by name) answer.
	ErrZoneNotFound = errors.New("zone not found in powerdns")
)

// Error is an HTTP error answer of the PowerDNS API. Errors of go-powerdns
// (*powerdns.Error) are converted to it, so errors.As(err, **Error) works for
// every call of this package.
type Error struct {
	StatusCode int
	Message    string // PowerDNS's "error" field, or the body text
}

func (e *Error) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("powerdns: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("powerdns: HTTP %d: %s", e.StatusCode, e.Message)
}

// Is maps the status code to this package's sentinels.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrRejected:
		return e.StatusCode == http.StatusBadRequest || e.StatusCode == http.StatusUnprocessableEntity
	case ErrServer:
		return e.StatusCode >= 500
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrZoneNotFound:
		return e.StatusCode == http.StatusNotFound ||
			e.StatusCode == http.StatusUnprocessableEntity && strings.Contains(e.Message, "Could not find domain")
	}
	return false
}

// IsRejected reports whether PowerDNS refused the payload (400 or 422):
// permanent for that payload, retrying it is useless.
func IsRejected(err error) bool { return errors.Is(err, ErrRejected) }

// IsTransient reports whether err is worth retrying with backoff: network
// errors (connection refused or reset, EOF mid-answer), timeouts and 5xx
// answers. A cancelled context is not transient: the caller gave up.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var apiErr *Error
	if errors.As(err, &apiErr) {
		return apiErr.StatusCode >= 500
	}
	if errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	// *url.Error implements net.Error, so only its Timeout() is trusted here.
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// convert turns a go-powerdns error into *Error and leaves others alone.
func convert(err error) error {
	var pe *powerdns.Error
	if errors.As(err, &pe) {
		return &Error{StatusCode: pe.StatusCode, Message: pe.Message}
	}
	return err
}
