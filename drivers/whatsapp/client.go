package whatsapp

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client speaks the Cloud API's HTTP surface: messages, media and
// templates. It is stateless apart from its configuration; Channel adds the
// limits, retries and bookkeeping.
type Client struct {
	base       string // e.g. https://graph.facebook.com/v23.0
	phoneID    string
	wabaID     string
	token      string
	hc         *http.Client
	reqTimeout time.Duration
}

// errNotSent marks a transport failure before the request body was written
// completely: Meta cannot have acted on it, so it is safe to retry.
var errNotSent = errors.New("request not sent")

func newClient(baseURL, version, phoneID, wabaID, token string, hc *http.Client, timeout time.Duration) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{
		base:    strings.TrimRight(baseURL, "/") + "/" + strings.Trim(version, "/"),
		phoneID: phoneID, wabaID: wabaID, token: token, hc: hc, reqTimeout: timeout,
	}
}

// doConfirmed sends method to path (below the Graph API's base) with
// body as JSON (none when nil) and expects Meta's {"success": true};
// what names the request in the error when it is missing.
func (c *Client) doConfirmed(ctx context.Context, method, path string, body any, what string) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	var out struct {
		Success bool `json:"success"`
	}
	if err := c.do(ctx, req, &out); err != nil {
		return err
	}
	if !out.Success {
		return fmt.Errorf("whatsapp: %s not confirmed (no success:true)", what)
	}
	return nil
}

// do sends req with the bearer token and decodes a JSON answer into out. A
// Graph API error answer becomes *APIError. A failure after the request
// was written wraps ErrUnknownOutcome; one before wraps errNotSent.
func (c *Client) do(ctx context.Context, req *http.Request, out any) error {
	if c.reqTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.reqTimeout)
		defer cancel()
	}
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				written.Store(true)
			}
		},
	})
	req = req.WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		if written.Load() {
			return fmt.Errorf("%w: %s %s: no answer: %w", ErrUnknownOutcome, req.Method, redactPath(req.URL), err)
		}
		return fmt.Errorf("%w: %s %s: %w", errNotSent, req.Method, redactPath(req.URL), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("%w: %s %s: reading answer: %w", ErrUnknownOutcome, req.Method, redactPath(req.URL), err)
	}
	if resp.StatusCode/100 != 2 {
		var after time.Duration
		if n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && n > 0 {
			after = time.Duration(min(n, maxRetryAfter)) * time.Second
		}
		var env errorEnvelope
		if json.Unmarshal(body, &env) == nil && env.Error != nil {
			env.Error.HTTPStatus, env.Error.RetryAfter = resp.StatusCode, after
			return env.Error
		}
		// Not a Graph error (a proxy page): classify by HTTP status.
		return &APIError{HTTPStatus: resp.StatusCode, Code: -1, RetryAfter: after,
			Message: fmt.Sprintf("HTTP %d from %s: %.200s", resp.StatusCode, redactPath(req.URL), bytes.TrimSpace(body))}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%w: %s %s: unreadable answer: %w", ErrUnknownOutcome, req.Method, redactPath(req.URL), err)
	}
	return nil
}

// maxRetryAfter caps a Retry-After (seconds) so a proxy cannot park a
// send for hours.
const maxRetryAfter = 300

// redactPath drops the query (media URLs carry signed tokens).
func redactPath(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }

// PostMessage sends one message body.
func (c *Client) PostMessage(ctx context.Context, r *SendRequest) (*SendResponse, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, c.base+"/"+c.phoneID+"/messages", bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var out SendResponse
	if err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return nil, fmt.Errorf("%w: send answer has no message id", ErrUnknownOutcome)
	}
	return &out, nil
}

// UploadMedia uploads a file (multipart: file, type, messaging_product) and
// returns its media id. The file is streamed from r, not held in memory;
// when r can seek, its remaining size gives the request a Content-Length.
func (c *Client) UploadMedia(ctx context.Context, filename, mimeType string, r io.Reader) (string, error) {
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	_ = mw.WriteField("messaging_product", "whatsapp")
	_ = mw.WriteField("type", mimeType)
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	h.Set("Content-Type", mimeType)
	if _, err := mw.CreatePart(h); err != nil {
		return "", err
	}
	prefix := bytes.Clone(head.Bytes())
	head.Reset()
	if err := mw.Close(); err != nil { // writes only the closing boundary
		return "", err
	}
	suffix := bytes.Clone(head.Bytes())
	size := remaining(r)
	rr := &readErr{r: r}
	req, err := http.NewRequest(http.MethodPost, c.base+"/"+c.phoneID+"/media",
		io.MultiReader(bytes.NewReader(prefix), rr, bytes.NewReader(suffix)))
	if err != nil {
		return "", err
	}
	req.ContentLength = -1
	if size >= 0 {
		req.ContentLength = int64(len(prefix)) + size + int64(len(suffix))
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	var out struct {
		ID string `json:"id"`
	}
	if err := c.do(ctx, req, &out); err != nil {
		if rerr := rr.err(); rerr != nil {
			// Reading the file failed (or the caller's limit cut it off):
			// Meta got an incomplete request and cannot have stored it.
			return "", fmt.Errorf("read media: %w", rerr)
		}
		return "", fmt.Errorf("upload media: %w", err)
	}
	if out.ID == "" {
		return "", errors.New("upload media: answer has no id")
	}
	return out.ID, nil
}

// remaining is how many bytes r still has when it can seek, else -1.
func remaining(r io.Reader) int64 {
	s, ok := r.(io.Seeker)
	if !ok {
		return -1
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return -1
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return -1
	}
	return end - cur
}

// readErr remembers the first read error of the file being uploaded (the
// transport may still be reading when the answer arrives, hence the lock).
type readErr struct {
	r   io.Reader
	mu  sync.Mutex
	bad error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.mu.Lock()
		if e.bad == nil {
			e.bad = err
		}
		e.mu.Unlock()
	}
	return n, err
}

func (e *readErr) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.bad
}

// MediaInfo returns a media object's metadata and its short-lived URL.
func (c *Client) MediaInfo(ctx context.Context, id string) (MediaInfo, error) {
	var mi MediaInfo
	req, err := http.NewRequest(http.MethodGet, c.base+"/"+url.PathEscape(id)+"?phone_number_id="+url.QueryEscape(c.phoneID), nil)
	if err != nil {
		return mi, err
	}
	if err := c.do(ctx, req, &mi); err != nil {
		return mi, fmt.Errorf("media %s: %w", id, err)
	}
	if mi.URL == "" {
		return mi, fmt.Errorf("media %s: answer has no url", id)
	}
	return mi, nil
}

// DownloadMedia fetches media id into w: first its metadata, then the
// short-lived URL with the bearer token. More than max bytes fails with
// ErrMediaTooLarge; the SHA-256 is checked when Meta gives one.
func (c *Client) DownloadMedia(ctx context.Context, id string, max int64, w io.Writer) (MediaInfo, error) {
	mi, err := c.MediaInfo(ctx, id)
	if err != nil {
		return mi, err
	}
	if max > 0 && int64(mi.FileSize) > max {
		return mi, fmt.Errorf("%w: media %s has %d bytes, limit %d (raise whatsapp.media_max_bytes)", ErrMediaTooLarge, id, mi.FileSize, max)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // the URL is valid about 5 minutes anyway
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mi.URL, nil)
	if err != nil {
		return mi, fmt.Errorf("media %s: bad url: %w", id, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return mi, fmt.Errorf("media %s: download: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return mi, fmt.Errorf("media %s: download: HTTP %d (the URL expires after 5 minutes; retry fetches a new one)", id, resp.StatusCode)
	}
	h := sha256.New()
	limit := max
	if limit <= 0 {
		limit = 1 << 62
	}
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return mi, fmt.Errorf("media %s: download: %w", id, err)
	}
	if n > limit {
		return mi, fmt.Errorf("%w: media %s is larger than %d bytes (raise whatsapp.media_max_bytes)", ErrMediaTooLarge, id, limit)
	}
	if mi.SHA256 != "" && !sumMatches(mi.SHA256, h.Sum(nil)) {
		return mi, fmt.Errorf("media %s: download is damaged (SHA-256 mismatch)", id)
	}
	mi.FileSize = flexInt64(n)
	return mi, nil
}

// sumMatches compares a SHA-256 given as hex or base64 (Meta uses both).
func sumMatches(want string, sum []byte) bool {
	return strings.EqualFold(want, hex.EncodeToString(sum)) ||
		want == base64.StdEncoding.EncodeToString(sum)
}

// TemplatePage returns one page of the account's templates.
func (c *Client) TemplatePage(ctx context.Context, after string, limit int) (TemplatePage, error) {
	var p TemplatePage
	if c.wabaID == "" {
		return p, errors.New("whatsapp.business_account_id is not set: templates cannot be synchronised (find it in WhatsApp Manager, Account tools)")
	}
	q := url.Values{}
	q.Set("limit", fmt.Sprint(limit))
	q.Set("fields", "id,name,language,status,category,components,parameter_format")
	if after != "" {
		q.Set("after", after)
	}
	req, err := http.NewRequest(http.MethodGet, c.base+"/"+c.wabaID+"/message_templates?"+q.Encode(), nil)
	if err != nil {
		return p, err
	}
	err = c.do(ctx, req, &p)
	return p, err
}
