package status

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Recent keeps the last few warnings and errors of a process. It is a
// zerolog hook: attach it with log.Hook(r). Safe for concurrent use.
type Recent struct {
	mu   sync.Mutex
	max  int
	errs []Error
	now  func() time.Time
}

// NewRecent keeps the last n entries.
func NewRecent(n int) *Recent { return &Recent{max: n, now: time.Now} }

// Run records warn and error events (zerolog.Hook).
func (r *Recent) Run(_ *zerolog.Event, level zerolog.Level, msg string) {
	if level < zerolog.WarnLevel || level >= zerolog.NoLevel {
		return
	}
	r.Add(Error{Time: r.now().UTC(), Level: level.String(), Message: msg})
}

// Add records e, dropping the oldest entry when full.
func (r *Recent) Add(e Error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) == r.max {
		copy(r.errs, r.errs[1:])
		r.errs = r.errs[:len(r.errs)-1]
	}
	if r.max > 0 {
		r.errs = append(r.errs, e)
	}
}

// List returns the entries, oldest first.
func (r *Recent) List() []Error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Error(nil), r.errs...)
}
