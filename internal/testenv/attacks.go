package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Attacks tries, through a client connection, every way of removing or
// replacing messages of the record stream that a role's permissions might
// leave open, all at once, and returns what worked or failed for another
// reason than the expected refusal (so nothing, for a role confined as it
// should be). own is a subject the role may publish; foreign one it must
// not replace. With ownAllowed (the role may publish own), a roll-up on
// own must reach the stream and be refused there (roll-ups are off: error
// 10111), and a plain message on own must be stored; otherwise it is
// refused by the permissions like everything else: the server drops such a
// request unanswered.
func Attacks(ctx context.Context, nc *nats.Conn, stream, own, foreign string, ownAllowed bool) []string {
	js, err := jetstream.New(nc)
	if err != nil {
		return []string{"jetstream: " + err.Error()}
	}
	var (
		mu     sync.Mutex
		wrong  []string
		wg     sync.WaitGroup
		denied = func(err error) bool {
			return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
		}
	)
	try := func(what string, refused func(error) bool, f func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			actx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			err := f(actx)
			if err == nil || !refused(err) {
				mu.Lock()
				wrong = append(wrong, fmt.Sprintf("%s: %v", what, err))
				mu.Unlock()
			}
		}()
	}
	body := []byte(`{"v":1}`)
	rollupRefused := func(err error) bool {
		var apiErr *jetstream.APIError
		return errors.As(err, &apiErr) && apiErr.ErrorCode == rollupFailed
	}
	if !ownAllowed {
		rollupRefused = denied
	}
	for _, rollup := range []string{"all", "sub"} {
		try("roll-up "+rollup+" on "+own, rollupRefused, func(ctx context.Context) error {
			m := nats.NewMsg(own)
			m.Data = body
			m.Header.Set(jetstream.MsgRollup, rollup)
			_, err := js.PublishMsg(ctx, m)
			return err
		})
	}
	try("publish on "+foreign, denied, func(ctx context.Context) error {
		_, err := js.Publish(ctx, foreign, body)
		return err
	})
	api := func(subject, req string) func(context.Context) error {
		return func(ctx context.Context) error {
			resp, err := nc.RequestWithContext(ctx, subject, []byte(req))
			if err != nil {
				return err
			}
			var r struct {
				Error *jetstream.APIError `json:"error"`
			}
			if err := json.Unmarshal(resp.Data, &r); err != nil {
				return err
			}
			if r.Error != nil {
				return r.Error
			}
			return nil
		}
	}
	try("purge", denied, api("$JS.API.STREAM.PURGE."+stream, `{}`))
	try("purge of "+foreign, denied, api("$JS.API.STREAM.PURGE."+stream, fmt.Sprintf(`{"filter":%q}`, foreign)))
	try("delete message 1", denied, api("$JS.API.STREAM.MSG.DELETE."+stream, `{"seq":1,"no_erase":true}`))
	try("delete the stream", denied, api("$JS.API.STREAM.DELETE."+stream, ``))
	try("update the stream (max age 1s)", denied, api("$JS.API.STREAM.UPDATE."+stream,
		fmt.Sprintf(`{"name":%q,"subjects":["zonecast.rr.>"],"max_age":1000000000,"max_msgs_per_subject":1,"storage":"file","allow_rollup_hdrs":true}`, stream)))
	// Operators' requests: approving held deletions is for admin users.
	try("approve held deletions", denied, func(ctx context.Context) error {
		_, err := nc.RequestWithContext(ctx, "zonecast.control."+stream+".approve", []byte(`{"zone":"."}`))
		return err
	})
	wg.Wait()
	if ownAllowed {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := js.Publish(actx, own, body); err != nil {
			wrong = append(wrong, fmt.Sprintf("a plain message on %s was not stored: %v", own, err))
		}
	}
	return wrong
}

// rollupFailed is JetStream's error code for a refused roll-up
// (JSStreamRollupFailedErr), which nats.go does not name.
const rollupFailed jetstream.ErrorCode = 10111
