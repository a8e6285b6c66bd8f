// Package metamsg is the Facebook Messenger and Instagram channel: one
// Facebook Page or Instagram professional account, talked to through
// Meta's Graph API Send API (POST /{account-id}/messages) and Meta's
// webhooks (X-Hub-Signature-256). Both platforms share the Messenger
// Platform's wire format, error codes and messaging rules (the 24-hour
// standard messaging window, the HUMAN_AGENT tag for 7 days), so one
// package serves both; Options.Platform tells them apart (webhook object
// "page" or "instagram", address prefix "fb" or "ig", text limit).
package metamsg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Platform is Messenger or Instagram.
type Platform string

const (
	Messenger Platform = "messenger"
	Instagram Platform = "instagram"
)

// Default endpoints: Messenger and Instagram via a Page use
// graph.facebook.com; the Instagram API with Instagram Login uses
// graph.instagram.com (Options.BaseURL).
const (
	DefaultGraphURL     = "https://graph.facebook.com"  // netscope: production default, replaced by loopback in tests
	DefaultInstagramURL = "https://graph.instagram.com" // netscope: production default, replaced by loopback in tests
	DefaultVersion      = "v21.0"
)

// Messaging types of the Send API ("messaging_type").
const (
	TypeResponse   = "RESPONSE"    // a reply within the standard messaging window
	TypeUpdate     = "UPDATE"      // a message of the business's own within the window
	TypeMessageTag = "MESSAGE_TAG" // outside the window, with a tag
	// TagHumanAgent lets a human agent answer up to 7 days after the
	// person's last message (Messenger and Instagram).
	TagHumanAgent = "HUMAN_AGENT"
)

// MaxTextLen is the Send API's text limit: 2000 characters on Messenger,
// 1000 bytes on Instagram ("Text must be UTF-8 and less than 1000 bytes").
func MaxTextLen(p Platform) int {
	if p == Instagram {
		return 1000
	}
	return 2000
}

// TextLen measures text as MaxTextLen counts it.
func TextLen(p Platform, text string) int {
	if p == Instagram {
		return len(text)
	}
	return len([]rune(text))
}

// SendRequest is a Send API request with a text message.
type SendRequest struct {
	Recipient     Recipient   `json:"recipient"`
	MessagingType string      `json:"messaging_type"`
	Tag           string      `json:"tag,omitempty"`
	Message       TextMessage `json:"message"`
}

// Recipient addresses the person by their page- or Instagram-scoped id.
type Recipient struct {
	ID string `json:"id"`
}

// TextMessage is message.text.
type TextMessage struct {
	Text string `json:"text"`
}

// SendResponse is the Send API's success answer.
type SendResponse struct {
	RecipientID string `json:"recipient_id"`
	MessageID   string `json:"message_id"`
}

// Account is GET /me: the Page or the Instagram account the token is for.
type Account struct {
	ID       string `json:"id"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// APIError is a Graph API error answer ({"error":{...}}).
type APIError struct {
	HTTPStatus int    `json:"-"`
	Message    string `json:"message"`
	Type       string `json:"type"`
	Code       int    `json:"code"`
	Subcode    int    `json:"error_subcode,omitempty"`
	FBTraceID  string `json:"fbtrace_id,omitempty"`
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("graph api: code %d", e.Code)
	if e.Subcode != 0 {
		s += fmt.Sprintf("/%d", e.Subcode)
	}
	return s + ": " + e.Message
}

// Error codes and subcodes of Messenger Platform's "Common Error Codes"
// page that pbxgate acts on.
const (
	CodeWindow          = 10      // permission: outside the allowed window
	SubWindowMessenger  = 2018278 // "This message is sent outside of allowed window."
	SubWindowInstagram  = 2534022 // the same on Instagram
	CodeInvalid         = 100     // invalid parameter
	SubNoUser           = 2018001 // "No matching user found"
	CodeRateLimit       = 613     // "Calls to this API have exceeded the rate limit."
	CodeAppRateLimit    = 4       // application request limit reached
	CodeUnavailable     = 551     // "This person isn't available right now."
	SubUnavailable      = 1545041
	CodeInvalidToken    = 190 // invalid OAuth access token
	CodeTemporaryFailed = 1200
)

// Sentinel errors callers branch on.
var (
	ErrWindowClosed   = errors.New("outside the messaging window: Meta allows messages only within 24 hours of the person's last message (7 days with the HUMAN_AGENT tag for a human agent's reply)")
	ErrNoUser         = errors.New("no such person for this page or account (they must write first; the id is page-scoped)")
	ErrUnavailable    = errors.New("the person is not available (they blocked the page or account, or deleted theirs)")
	ErrRateLimited    = errors.New("rate limit of Meta's Send API reached")
	ErrUnauthorized   = errors.New("the access token was refused (check the page access token)")
	ErrTooLong        = errors.New("message text is too long")
	ErrUnknownOutcome = errors.New("no answer from Meta; the message may or may not have been sent")
)

// Classify maps an API error to the sentinel it means (it stays wrapped).
func Classify(e *APIError) error {
	switch {
	case e.Code == CodeWindow && (e.Subcode == SubWindowMessenger || e.Subcode == SubWindowInstagram):
		return fmt.Errorf("%w: %w", ErrWindowClosed, e)
	case e.Code == CodeInvalid && e.Subcode == SubNoUser:
		return fmt.Errorf("%w: %w", ErrNoUser, e)
	case e.Code == CodeUnavailable || e.Subcode == SubUnavailable:
		return fmt.Errorf("%w: %w", ErrUnavailable, e)
	case e.Code == CodeRateLimit || e.Code == CodeAppRateLimit || e.Code == 32 || e.Code == 80006:
		return fmt.Errorf("%w: %w", ErrRateLimited, e)
	case e.Code == CodeInvalidToken:
		return fmt.Errorf("%w: %w", ErrUnauthorized, e)
	}
	return e
}

// Client calls the Graph API with one access token. The token goes in the
// Authorization header, never in a URL (URLs end up in logs).
type Client struct {
	BaseURL string // DefaultGraphURL, DefaultInstagramURL or the emulator
	Version string // "v21.0"
	Token   string
	HTTP    *http.Client
}

func (c *Client) url(path string) string {
	v := c.Version
	if v == "" {
		v = DefaultVersion
	}
	return strings.TrimRight(c.BaseURL, "/") + "/" + v + "/" + path
}

func (c *Client) do(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		return redactErr(err, c.Token)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("graph api %s: %w", path, err)
	}
	if res.StatusCode/100 != 2 {
		var env struct {
			Error *APIError `json:"error"`
		}
		if json.Unmarshal(data, &env) == nil && env.Error != nil {
			env.Error.HTTPStatus = res.StatusCode
			env.Error.Message = redact(env.Error.Message, c.Token)
			return Classify(env.Error)
		}
		return fmt.Errorf("graph api %s: HTTP %d: %s", path, res.StatusCode, redact(strings.TrimSpace(string(data)), c.Token))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("graph api %s: unreadable answer: %w", path, err)
		}
	}
	return nil
}

// Send posts a message to /{account}/messages (account "me" is the
// token's Page or Instagram account).
func (c *Client) Send(ctx context.Context, account string, r SendRequest) (SendResponse, error) {
	var out SendResponse
	err := c.do(ctx, http.MethodPost, url.PathEscape(account)+"/messages", r, &out)
	return out, err
}

// Me asks which Page or Instagram account the token belongs to.
func (c *Client) Me(ctx context.Context) (Account, error) {
	var a Account
	err := c.do(ctx, http.MethodGet, "me?fields=id,name,username", nil, &a)
	return a, err
}

func redact(s, token string) string {
	if token == "" {
		return s
	}
	return strings.ReplaceAll(s, token, "[token]")
}

func redactErr(err error, token string) error {
	if token == "" || !strings.Contains(err.Error(), token) {
		return err
	}
	return errors.New(redact(err.Error(), token))
}
