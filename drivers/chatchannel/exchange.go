package chatchannel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Exchange sends req with hc (nil: http.DefaultClient) and reads at most
// limit bytes of the answer. When no answer came, the error is ctx's when
// ctx ended; otherwise it wraps unknown (the platform's "may or may not
// have been sent") after what ("telegram sendMessage"), with token taken
// out of it.
func Exchange(ctx context.Context, hc *http.Client, req *http.Request, limit int64, what string, unknown error, token string) (status int, body []byte, err error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, ctx.Err()
		}
		return 0, nil, fmt.Errorf("%s: %w: %s", what, unknown, Redact(err.Error(), token))
	}
	defer res.Body.Close()
	body, err = io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return res.StatusCode, nil, fmt.Errorf("%s: %w: reading the answer: %v", what, unknown, err)
	}
	return res.StatusCode, body, nil
}

// Redact takes token out of s (log lines, errors, the portal's status).
func Redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "<token>")
}
