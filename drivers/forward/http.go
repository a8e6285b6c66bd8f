package forward

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names of a forwarded request.
const (
	// SignatureHeader carries "sha256=<hex HMAC-SHA256 of the body>" when
	// the action has a secret; receivers verify it with Verify.
	SignatureHeader = "X-Pbxgate-Signature"
	// TimestampHeader is when the request was made (Unix seconds). It is
	// not signed: the payload's TIMESTAMP is, for receivers that refuse
	// old messages.
	TimestampHeader = "X-Pbxgate-Timestamp"
)

// maxBotAnswer bounds what is read from a bot (one chat message).
const maxBotAnswer = 64 << 10

// HTTPConfig configures web service forwards (automation.http).
type HTTPConfig struct {
	Client    *http.Client  // nil: a client with Timeout
	Timeout   time.Duration // per request; 0: 15s
	UserAgent string        // empty: "pbxgate"
}

// HTTP posts inbound messages to web services and bots. Safe for
// concurrent use.
type HTTP struct {
	c  *http.Client
	ua string
}

// NewHTTP returns a forwarder.
func NewHTTP(cfg HTTPConfig) *HTTP {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	c := cfg.Client
	if c == nil {
		c = &http.Client{Timeout: cfg.Timeout}
	}
	ua := cfg.UserAgent
	if ua == "" {
		ua = "pbxgate"
	}
	return &HTTP{c: c, ua: ua}
}

// HTTPError is a failed forward: the status the endpoint answered (0 for
// network errors).
type HTTPError struct {
	URL    string
	Status int
	Body   string // start of the response, for the admin
	Err    error
}

func (e *HTTPError) Error() string {
	if e.Status != 0 {
		msg := fmt.Sprintf("%s answered %d", e.URL, e.Status)
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		if e.Body != "" {
			msg += ": " + e.Body
		}
		return msg
	}
	return fmt.Sprintf("%s: %v", e.URL, e.Err)
}

func (e *HTTPError) Unwrap() error { return e.Err }

// Permanent: a 4xx other than 408 (timeout) and 429 (rate limit) means the
// request itself is wrong (bad URL, bad signature); retrying cannot help.
func (e *HTTPError) Permanent() bool {
	return e.Status >= 400 && e.Status < 500 && e.Status != 408 && e.Status != 429
}

// Sign returns the SignatureHeader value of body under secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a SignatureHeader value in constant time (for receivers
// written in Go, and the tests).
func Verify(secret string, body []byte, header string) bool {
	return hmac.Equal([]byte(Sign(secret, body)), []byte(header))
}

// Post sends body (JSON) to url; any 2xx is success.
func (h *HTTP) Post(ctx context.Context, url, secret string, body []byte) error {
	resp, err := h.do(ctx, url, secret, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBotAnswer))
	return nil
}

// Ask posts body to a bot and returns its answer: the "text" (or "reply",
// "answer", "message") field of a JSON response, else the plain-text body,
// trimmed. An empty answer means the bot has nothing to say.
func (h *HTTP) Ask(ctx context.Context, url, secret string, body []byte) (string, error) {
	resp, err := h.do(ctx, url, secret, body)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBotAnswer+1))
	if err != nil {
		return "", &HTTPError{URL: url, Err: fmt.Errorf("reading the answer: %w", err)}
	}
	if len(b) > maxBotAnswer {
		return "", &HTTPError{URL: url, Status: resp.StatusCode, Err: errors.New("answer larger than 64 KiB")}
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/json" || strings.HasSuffix(ct, "+json") {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			return "", &HTTPError{URL: url, Status: resp.StatusCode, Err: fmt.Errorf("answer is not valid JSON: %w", err)}
		}
		for _, k := range []string{"text", "reply", "answer", "message"} {
			if s, ok := m[k].(string); ok {
				return strings.TrimSpace(s), nil
			}
		}
		return "", nil
	}
	return strings.TrimSpace(string(b)), nil
}

func (h *HTTP) do(ctx context.Context, url, secret string, body []byte) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &HTTPError{URL: url, Status: 400, Err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", h.ua)
	req.Header.Set(TimestampHeader, strconv.FormatInt(time.Now().Unix(), 10))
	if secret != "" {
		req.Header.Set(SignatureHeader, Sign(secret, body))
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return nil, &HTTPError{URL: url, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		return nil, &HTTPError{URL: url, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	return resp, nil
}
