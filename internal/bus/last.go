package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Last is what the stream holds on one subject.
type Last struct {
	Found    bool
	Seq      uint64
	Data     []byte
	LeaseEnd time.Time // zero: no lease
}

// LastOf returns the last message of subject in st; Found is false if the
// subject holds none.
func LastOf(ctx context.Context, st jetstream.Stream, subject string) (Last, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Last{}, nil
	}
	if err != nil {
		return Last{}, fmt.Errorf("reading the last message of %s: %w", subject, err)
	}
	return Last{Found: true, Seq: m.Sequence, Data: m.Data,
		LeaseEnd: LeaseEnd(m.Time, m.Header.Get(jetstream.MsgTTLHeader))}, nil
}
