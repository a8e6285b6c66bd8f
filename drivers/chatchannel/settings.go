package chatchannel

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults points at the settings every chat channel's Options have; Fill
// sets those left zero: 5 attempts, 20 s per request, a 5 s pause after a
// failure, a plain HTTP client and a logger that discards. A nil pointer
// is a setting the channel does not have.
type Defaults struct {
	MaxAttempts    *int
	RequestTimeout *time.Duration
	RetryPause     *time.Duration
	HTTPClient     **http.Client
	Logger         **slog.Logger
}

// Fill sets the unset settings.
func (d Defaults) Fill() {
	if d.MaxAttempts != nil && *d.MaxAttempts <= 0 {
		*d.MaxAttempts = 5
	}
	if d.RequestTimeout != nil && *d.RequestTimeout <= 0 {
		*d.RequestTimeout = 20 * time.Second
	}
	if d.RetryPause != nil && *d.RetryPause <= 0 {
		*d.RetryPause = 5 * time.Second
	}
	if d.HTTPClient != nil && *d.HTTPClient == nil {
		*d.HTTPClient = &http.Client{}
	}
	if d.Logger != nil && *d.Logger == nil {
		*d.Logger = slog.New(slog.DiscardHandler)
	}
}
