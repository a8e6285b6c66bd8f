// Package vk is the VK channel: community messages, talked to through
// the VK API (https://dev.vk.com/en/method/messages.send). Subscribers
// write to the community; their messages reach pbxgate by the Bots Long
// Poll API (https://dev.vk.com/en/api/bots-long-poll/getting-started),
// which needs no public URL, or by the Callback API
// (https://dev.vk.com/en/api/callback/getting-started) with its
// confirmation string and secret key. pbxgate stores them in the one
// inbox, answers them with messages.send (random_id makes a resend
// harmless), sends campaigns to users who allowed messages, and turns
// message_deny into an opt-out.
package vk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
)

// DefaultBaseURL is VK's API server; the emulator (vkemu) stands in by
// Options.BaseURL.
const DefaultBaseURL = "https://api.vk.com" // netscope: production default, replaced by loopback in tests

// DefaultVersion is the API version pbxgate speaks (the v parameter).
const DefaultVersion = "5.199"

// MaxTextLen is messages.send's limit for message (4096 characters;
// longer is error 914).
const MaxTextLen = 4096

// VK API error codes pbxgate branches on
// (https://dev.vk.com/en/reference/errors).
const (
	CodeAuthFailed      = 5
	CodeTooManyRequests = 6
	CodeFloodControl    = 9
	CodeAccessDenied    = 15
	CodeParamInvalid    = 100
	CodeNoPermission    = 901 // can't send messages for users without permission
	CodePrivacy         = 902 // can't send messages to this user due to their privacy settings
	CodeTooLong         = 914
)

// APIError is an error answer ({"error": {"error_code", "error_msg"}}).
type APIError struct {
	Method string
	Code   int
	Msg    string
}

func (e *APIError) Error() string { return fmt.Sprintf("vk %s: error %d: %s", e.Method, e.Code, e.Msg) }

// Sentinel errors callers branch on.
var (
	// ErrNoPermission: the user has not allowed messages from the
	// community (901) or forbids them (902).
	ErrNoPermission = errors.New("the user has not allowed messages from the community (they must write to it first)")
	// ErrUnauthorized: the access token was refused (5).
	ErrUnauthorized = errors.New("the VK access token was refused (create a community token with the messages right)")
	// ErrTooMany: too many requests per second (6).
	ErrTooMany = errors.New("too many requests per second to VK")
	// ErrFlood: flood control (9): too many (identical) messages.
	ErrFlood = errors.New("VK flood control: too many messages; try later")
	// ErrTooLong: the text is longer than 4096 characters.
	ErrTooLong = errors.New("message text is longer than 4096 characters")
	// ErrUnknownOutcome: the request may or may not have reached VK.
	ErrUnknownOutcome = errors.New("no answer from VK; the message may or may not have been sent")
)

// Is lets errors.Is match an APIError against the sentinels.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNoPermission:
		return e.Code == CodeNoPermission || e.Code == CodePrivacy
	case ErrUnauthorized:
		return e.Code == CodeAuthFailed
	case ErrTooMany:
		return e.Code == CodeTooManyRequests
	case ErrFlood:
		return e.Code == CodeFloodControl
	case ErrTooLong:
		return e.Code == CodeTooLong
	}
	return false
}

// Client calls the VK API with a community token.
type Client struct {
	BaseURL string // DefaultBaseURL or the emulator
	Token   string
	Version string // DefaultVersion when empty
	HTTP    *http.Client
}

// call POSTs params form-encoded to /method/<method> and decodes the
// response field into out. The token travels in the body and never
// appears in errors.
func (c *Client) call(ctx context.Context, method string, params url.Values, out any) error {
	p := url.Values{}
	for k, v := range params {
		p[k] = v
	}
	p.Set("access_token", c.Token)
	v := c.Version
	if v == "" {
		v = DefaultVersion
	}
	p.Set("v", v)
	base := strings.TrimRight(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/method/"+method, strings.NewReader(p.Encode()))
	if err != nil {
		return fmt.Errorf("vk %s: bad base URL %q", method, base)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	status, raw, err := chatchannel.Exchange(ctx, c.HTTP, req, 4<<20, "vk "+method, ErrUnknownOutcome, c.Token)
	if err != nil {
		return err
	}
	var r struct {
		Response json.RawMessage `json:"response"`
		Error    *struct {
			Code int    `json:"error_code"`
			Msg  string `json:"error_msg"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("vk %s: HTTP %d with an answer that is not the VK API's JSON: %.120q", method, status, redact(string(raw), c.Token))
	}
	if r.Error != nil {
		return &APIError{Method: method, Code: r.Error.Code, Msg: redact(r.Error.Msg, c.Token)}
	}
	if r.Response == nil {
		return fmt.Errorf("vk %s: answer without response: %.120q", method, raw)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Response, out); err != nil {
		return fmt.Errorf("vk %s: unexpected response: %w", method, err)
	}
	return nil
}

func redact(s, token string) string { return chatchannel.Redact(s, token) }

// Group is a community (groups.getById).
type Group struct {
	ID         int64  `json:"id"`
	Name       string `json:"name"`
	ScreenName string `json:"screen_name"`
}

// GetGroup returns the community ("test connection"). groups.getById
// answers {"groups": [...]} since 5.194 and a bare list before.
func (c *Client) GetGroup(ctx context.Context, groupID int64) (Group, error) {
	var raw json.RawMessage
	if err := c.call(ctx, "groups.getById", url.Values{"group_id": {strconv.FormatInt(groupID, 10)}}, &raw); err != nil {
		return Group{}, err
	}
	var gs []Group
	var wrapped struct {
		Groups []Group `json:"groups"`
	}
	if json.Unmarshal(raw, &wrapped) == nil && len(wrapped.Groups) > 0 {
		gs = wrapped.Groups
	} else if err := json.Unmarshal(raw, &gs); err != nil {
		return Group{}, fmt.Errorf("vk groups.getById: unexpected response: %w", err)
	}
	if len(gs) == 0 {
		return Group{}, fmt.Errorf("vk groups.getById: community %d not found", groupID)
	}
	return gs[0], nil
}

// LongPollServer is a Bots Long Poll session (groups.getLongPollServer).
type LongPollServer struct {
	Key    string `json:"key"`
	Server string `json:"server"`
	TS     string `json:"ts"`
}

// GetLongPollServer opens a Bots Long Poll session.
func (c *Client) GetLongPollServer(ctx context.Context, groupID int64) (LongPollServer, error) {
	var s LongPollServer
	err := c.call(ctx, "groups.getLongPollServer", url.Values{"group_id": {strconv.FormatInt(groupID, 10)}}, &s)
	return s, err
}

// SendMessage sends text to peer; randomID makes a repeat of the same
// call (same peer, same random_id) send nothing new. It returns the
// message id.
func (c *Client) SendMessage(ctx context.Context, peer int64, randomID int32, text string) (int64, error) {
	var id int64
	err := c.call(ctx, "messages.send", url.Values{"peer_id": {strconv.FormatInt(peer, 10)},
		"random_id": {strconv.FormatInt(int64(randomID), 10)}, "message": {text}}, &id)
	return id, err
}

// RandomID derives messages.send's random_id from pbxgate's message ID:
// the same message always gets the same random_id, so a retry after a
// lost answer is not sent twice.
func RandomID(id string) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	r := int32(h.Sum32() & 0x7fffffff)
	if r == 0 {
		r = 1
	}
	return r
}

// Check is one a_check answer of the Long Poll server: updates and the
// next ts, or failed (1: history outdated, use ts; 2: key expired; 3:
// information lost, get key and ts anew).
type Check struct {
	TS      json.Number `json:"ts"`
	Updates []Update    `json:"updates"`
	Failed  int         `json:"failed"`
}

// Update is one event ({"type", "object", "group_id", "event_id"}).
type Update struct {
	Type    string          `json:"type"`
	Object  json.RawMessage `json:"object"`
	GroupID int64           `json:"group_id"`
	EventID string          `json:"event_id,omitempty"`
	V       string          `json:"v,omitempty"`
	Secret  string          `json:"secret,omitempty"` // Callback API only
}

// Poll asks the Long Poll server for events after ts, waiting up to wait
// seconds.
func (c *Client) Poll(ctx context.Context, s LongPollServer, ts string, wait int) (Check, error) {
	q := url.Values{"act": {"a_check"}, "key": {s.Key}, "ts": {ts}, "wait": {strconv.Itoa(wait)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Server+"?"+q.Encode(), nil)
	if err != nil {
		return Check{}, fmt.Errorf("vk long poll: bad server %q", s.Server)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return Check{}, ctx.Err()
		}
		return Check{}, fmt.Errorf("vk long poll: %s", redact(err.Error(), s.Key))
	}
	defer res.Body.Close()
	var ck Check
	if err := json.NewDecoder(io.LimitReader(res.Body, 8<<20)).Decode(&ck); err != nil {
		return Check{}, fmt.Errorf("vk long poll: HTTP %d, not the Long Poll server's JSON: %w", res.StatusCode, err)
	}
	return ck, nil
}

// Message is a private message (the message object of message_new).
type Message struct {
	ID      int64  `json:"id"`
	Date    int64  `json:"date"`
	PeerID  int64  `json:"peer_id"`
	FromID  int64  `json:"from_id"`
	Text    string `json:"text"`
	Payload string `json:"payload,omitempty"`
	// Ref is the ref parameter of the vk.me link the user came by.
	Ref         string       `json:"ref,omitempty"`
	RandomID    int64        `json:"random_id"`
	Attachments []Attachment `json:"attachments,omitempty"`
	Geo         *struct {
		Coordinates struct {
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
		} `json:"coordinates"`
	} `json:"geo,omitempty"`
	ConversationMessageID int64 `json:"conversation_message_id"`
}

// Attachment is a message's attachment; pbxgate reads its type.
type Attachment struct {
	Type string `json:"type"` // photo, doc, audio_message, sticker, ...
}

// MessageNew is message_new's object since API 5.103.
type MessageNew struct {
	Message    Message         `json:"message"`
	ClientInfo json.RawMessage `json:"client_info,omitempty"`
}

// MessageAllow is message_allow's object: the user allowed messages
// (key is the parameter of the link they came by).
type MessageAllow struct {
	UserID int64  `json:"user_id"`
	Key    string `json:"key"`
}

// MessageDeny is message_deny's object: the user forbade messages.
type MessageDeny struct {
	UserID int64 `json:"user_id"`
}

// Address is how pbxgate names a VK user everywhere (sessions, consent,
// message log, SIP): "vk" and the user id.
func Address(userID int64) string { return "vk" + strconv.FormatInt(userID, 10) }

// ParseUserID reads a subscriber address: "vk123", "vk:123" or "123".
func ParseUserID(addr string) (int64, error) {
	s := strings.ToLower(strings.TrimSpace(addr))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "vk:"), "vk")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 || id >= 2000000000 {
		return 0, fmt.Errorf("%q is not a VK user id (the digits of vk.com/id123456789)", addr)
	}
	return id, nil
}

// TextLen counts text as messages.send does (characters).
func TextLen(s string) int { return utf8.RuneCountInString(s) }
