// Package viber is the Viber channel: a Viber bot, talked to through the
// Viber REST Bot API (https://developers.viber.com/docs/api/rest-bot-api/).
// Subscribers write to the bot; Viber posts their messages and events
// (subscribed, unsubscribed, conversation_started, delivered, seen, failed)
// to pbxgate's webhook, signed with X-Viber-Content-Signature; pbxgate
// stores them in the one inbox before it answers 200, answers them,
// sends campaigns to subscribers by their Viber user id and turns an
// unsubscribe into an opt-out. Viber has no polling: receiving needs the
// portal reachable from the internet (http.public_url).
package viber

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
)

// DefaultBaseURL is Viber's chat API; the emulator (viberemu) stands in
// by Options.BaseURL.
const DefaultBaseURL = "https://chatapi.viber.com" // netscope: production default, replaced by loopback in tests

// AuthHeader carries the bot's authentication token on every request.
const AuthHeader = "X-Viber-Auth-Token"

// SignatureHeader carries the HMAC-SHA256 of a callback's body, keyed
// with the authentication token, in hex.
const SignatureHeader = "X-Viber-Content-Signature"

// MaxTextLen is the text message's limit ("Max length 7,000 characters",
// REST Bot API, Text message).
const MaxTextLen = 7000

// MaxSenderName is sender.name's limit (28 characters).
const MaxSenderName = 28

// Status codes of the REST Bot API ("Error Codes").
const (
	StatusOK                    = 0
	StatusInvalidURL            = 1
	StatusInvalidAuthToken      = 2
	StatusBadData               = 3
	StatusMissingData           = 4
	StatusReceiverNotRegistered = 5
	StatusReceiverNotSubscribed = 6
	StatusAccountBlocked        = 7
	StatusAccountNotFound       = 8
	StatusAccountSuspended      = 9
	StatusWebhookNotSet         = 10
	StatusNoSuitableDevice      = 11
	StatusTooManyRequests       = 12
)

// APIError is an answer with a status other than 0.
type APIError struct {
	Method  string
	Status  int
	Message string // status_message, e.g. "receiverNotSubscribed"
}

func (e *APIError) Error() string {
	return fmt.Sprintf("viber %s: status %d %s", e.Method, e.Status, e.Message)
}

// Sentinel errors callers branch on.
var (
	// ErrNotSubscribed: the user is not (or no longer) subscribed to the
	// bot (status 6) or is no Viber user (status 5).
	ErrNotSubscribed = errors.New("the receiver is not subscribed to the bot (they must write to it first)")
	// ErrUnauthorized: the authentication token was refused (status 2).
	ErrUnauthorized = errors.New("the Viber authentication token was refused (check it in the Viber admin panel)")
	// ErrRateLimited: too many requests (status 12).
	ErrRateLimited = errors.New("too many requests to Viber")
	// ErrTooLong: the text is longer than 7,000 characters.
	ErrTooLong = errors.New("message text is longer than 7000 characters")
	// ErrUnknownOutcome: the request may or may not have reached Viber.
	ErrUnknownOutcome = errors.New("no answer from Viber; the message may or may not have been sent")
)

// Is lets errors.Is match an APIError against the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotSubscribed:
		return e.Status == StatusReceiverNotSubscribed || e.Status == StatusReceiverNotRegistered
	case ErrUnauthorized:
		return e.Status == StatusInvalidAuthToken
	case ErrRateLimited:
		return e.Status == StatusTooManyRequests
	}
	return false
}

// Client calls the REST Bot API of one bot.
type Client struct {
	BaseURL string // DefaultBaseURL or the emulator
	Token   string
	HTTP    *http.Client
}

// call POSTs params as JSON to /pa/<method> and decodes the answer into
// out (which must have the status fields). The token travels in a header
// and never appears in errors.
func (c *Client) call(ctx context.Context, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return err
	}
	base := strings.TrimRight(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/pa/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("viber %s: bad base URL %q", method, base)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(AuthHeader, c.Token)
	status, raw, err := chatchannel.Exchange(ctx, c.HTTP, req, 4<<20, "viber "+method, ErrUnknownOutcome, c.Token)
	if err != nil {
		return err
	}
	var st struct {
		Status        *int   `json:"status"`
		StatusMessage string `json:"status_message"`
	}
	if err := json.Unmarshal(raw, &st); err != nil || st.Status == nil {
		return fmt.Errorf("viber %s: HTTP %d with an answer that is not the REST Bot API's JSON: %.120q", method, status, raw)
	}
	if *st.Status != StatusOK {
		return &APIError{Method: method, Status: *st.Status, Message: st.StatusMessage}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("viber %s: unexpected answer: %w", method, err)
	}
	return nil
}

func redact(s, token string) string { return chatchannel.Redact(s, token) }

// Sign is the X-Viber-Content-Signature of body: HMAC-SHA256 keyed with
// the authentication token, hex.
func Sign(token string, body []byte) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ValidSignature checks a callback's signature in constant time.
func ValidSignature(token string, body []byte, sig string) bool {
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || token == "" {
		return false
	}
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// AccountInfo is get_account_info's answer, the fields pbxgate reads.
type AccountInfo struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	URI              string   `json:"uri"` // the bot's URI: viber://pa?chatURI=<uri>
	Webhook          string   `json:"webhook,omitempty"`
	EventTypes       []string `json:"event_types,omitempty"`
	SubscribersCount int      `json:"subscribers_count,omitempty"`
}

// GetAccountInfo returns the bot's details ("test connection").
func (c *Client) GetAccountInfo(ctx context.Context) (AccountInfo, error) {
	var a AccountInfo
	err := c.call(ctx, "get_account_info", struct{}{}, &a)
	return a, err
}

// EventTypes are the callbacks pbxgate asks for (set_webhook's
// event_types; webhook, message and subscribed come always).
var EventTypes = []string{"delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"}

// SetWebhook registers url; Viber checks it at once with a signed
// "webhook" callback, so the portal must already serve it. An empty url
// removes the webhook.
func (c *Client) SetWebhook(ctx context.Context, url string) error {
	p := map[string]any{"url": url}
	if url != "" {
		p["event_types"] = EventTypes
		p["send_name"] = true
	}
	return c.call(ctx, "set_webhook", p, nil)
}

// Sender is the bot's name (and avatar) shown with a message.
type Sender struct {
	Name   string `json:"name"`
	Avatar string `json:"avatar,omitempty"`
}

// SendMessage sends text to the user receiver; it returns the
// message_token delivered/seen/failed callbacks refer to.
func (c *Client) SendMessage(ctx context.Context, receiver string, sender Sender, text, tracking string) (int64, error) {
	p := map[string]any{"receiver": receiver, "min_api_version": 1, "sender": sender, "type": "text", "text": text}
	if tracking != "" {
		p["tracking_data"] = tracking
	}
	var out struct {
		MessageToken int64 `json:"message_token"`
	}
	err := c.call(ctx, "send_message", p, &out)
	return out.MessageToken, err
}

// User is a Viber user as callbacks describe them.
type User struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Avatar     string `json:"avatar,omitempty"`
	Country    string `json:"country,omitempty"`
	Language   string `json:"language,omitempty"`
	APIVersion int    `json:"api_version,omitempty"`
}

// Location is a shared point on the map.
type Location struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
}

// Contact is a shared phone contact.
type Contact struct {
	Name        string `json:"name"`
	PhoneNumber string `json:"phone_number"`
}

// Message is a message a user sent ("Receive message from user").
type Message struct {
	Type         string    `json:"type"` // text, picture, video, file, sticker, contact, url, location
	Text         string    `json:"text,omitempty"`
	Media        string    `json:"media,omitempty"`
	Location     *Location `json:"location,omitempty"`
	Contact      *Contact  `json:"contact,omitempty"`
	TrackingData string    `json:"tracking_data,omitempty"`
	FileName     string    `json:"file_name,omitempty"`
	FileSize     int64     `json:"file_size,omitempty"`
	StickerID    int64     `json:"sticker_id,omitempty"`
}

// Event is one callback ("Callbacks"): which fields are set depends on
// Event.
type Event struct {
	Event        string   `json:"event"`
	Timestamp    int64    `json:"timestamp"` // milliseconds
	MessageToken int64    `json:"message_token"`
	ChatHostname string   `json:"chat_hostname,omitempty"`
	User         *User    `json:"user,omitempty"`    // subscribed, conversation_started
	UserID       string   `json:"user_id,omitempty"` // unsubscribed, delivered, seen, failed
	Sender       *User    `json:"sender,omitempty"`  // message
	Message      *Message `json:"message,omitempty"` // message
	Type         string   `json:"type,omitempty"`    // conversation_started: "open"
	Context      string   `json:"context,omitempty"` // conversation_started: the link's context
	Subscribed   bool     `json:"subscribed,omitempty"`
	Desc         string   `json:"desc,omitempty"` // failed
}

// Address is how pbxgate names a Viber user everywhere (sessions,
// consent, message log, SIP): "vb" and the Viber user id, so it can never
// be taken for a phone number.
func Address(userID string) string { return "vb" + userID }

// ParseUserID reads a subscriber address: "vb<id>", "vb:<id>" or the bare
// Viber user id (base64: letters, digits, +, / and =).
func ParseUserID(addr string) (string, error) {
	s := strings.TrimSpace(addr)
	switch {
	case strings.HasPrefix(s, "vb:"):
		s = s[3:]
	case strings.HasPrefix(s, "vb") && len(s) > 2:
		s = s[2:]
	}
	if !ValidUserID(s) {
		return "", fmt.Errorf("%q is not a Viber user id (the id the bot sees, e.g. 01234567890A=)", addr)
	}
	return s, nil
}

// ValidUserID: 1 to 64 characters of base64 (A-Z, a-z, 0-9, +, /, =).
func ValidUserID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
		default:
			return false
		}
	}
	return true
}
