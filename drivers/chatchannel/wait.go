package chatchannel

import (
	"context"
	"time"
)

// Sleep waits d; false when ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Retry calls fn until it succeeds or ctx ends, pausing between tries
// (registering a webhook, opening a long-poll session). failed hears each
// error that was not ctx's end. Retry reports whether fn succeeded.
func Retry(ctx context.Context, pause time.Duration, fn func(context.Context) error, failed func(error)) bool {
	for {
		err := fn(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		failed(err)
		if !Sleep(ctx, pause) {
			return false
		}
	}
}
