// Package telegram is the Telegram channel: a bot, talked to through the
// Telegram Bot API (https://core.telegram.org/bots/api). Subscribers write
// to the bot; their messages go to the one inbox (long polling with
// getUpdates by default, a webhook when the portal has a public URL), and
// pbxgate answers them, sends campaigns to them by chat id and turns a
// blocked bot into an opt-out. The small client here is pbxgate's own: the
// inbox must store an update before it is confirmed (getUpdates' offset),
// which the Go bot libraries, confirming as they fetch, do not allow.
package telegram

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
)

// DefaultBaseURL is Telegram's Bot API server; a self-hosted Bot API
// server or the emulator (tgemu) stands in by Options.BaseURL.
const DefaultBaseURL = "https://api.telegram.org" // netscope: production default, replaced by loopback in tests

// MaxTextLen is sendMessage's limit: "Text of the message to be sent,
// 1-4096 characters after entities parsing" (Bot API, sendMessage).
const MaxTextLen = 4096

// Response is every Bot API answer ("Making requests": ok, result, or
// error_code, description and optional parameters).
type Response struct {
	OK          bool                `json:"ok"`
	Result      json.RawMessage     `json:"result,omitempty"`
	ErrorCode   int                 `json:"error_code,omitempty"`
	Description string              `json:"description,omitempty"`
	Parameters  *ResponseParameters `json:"parameters,omitempty"`
}

// ResponseParameters says why a request failed and what to do
// (ResponseParameters in the Bot API).
type ResponseParameters struct {
	MigrateToChatID int64 `json:"migrate_to_chat_id,omitempty"`
	RetryAfter      int   `json:"retry_after,omitempty"`
}

// APIError is an unsuccessful Bot API answer.
type APIError struct {
	Method      string
	Code        int    // error_code (HTTP status)
	Description string // "Forbidden: bot was blocked by the user"
	RetryAfter  time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("telegram %s: %d %s", e.Method, e.Code, e.Description)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// Sentinel errors callers branch on.
var (
	// ErrBlocked: the user blocked the bot (403); pbxgate records an opt-out.
	ErrBlocked = errors.New("the user blocked the bot")
	// ErrChatNotFound: no chat with this id for this bot (400): the user
	// never wrote to the bot, or the id is wrong.
	ErrChatNotFound = errors.New("chat not found (the subscriber must write to the bot first)")
	// ErrUnauthorized: the token is wrong or revoked (401).
	ErrUnauthorized = errors.New("the bot token was refused (check it with @BotFather)")
	// ErrConflict: getUpdates while a webhook is set, or two pollers (409).
	ErrConflict = errors.New("another getUpdates or a webhook is active for this bot")
	// ErrTooLong: the text is longer than 4096 characters.
	ErrTooLong = errors.New("message text is longer than 4096 characters")
	// ErrUnknownOutcome: the request may or may not have reached Telegram.
	ErrUnknownOutcome = errors.New("no answer from Telegram; the message may or may not have been sent")
)

// Is lets errors.Is match an APIError against the sentinels.
func (e *APIError) Is(target error) bool {
	d := strings.ToLower(e.Description)
	switch target {
	case ErrBlocked:
		return e.Code == 403 && (strings.Contains(d, "blocked") || strings.Contains(d, "deactivated") || strings.Contains(d, "kicked"))
	case ErrChatNotFound:
		return e.Code == 400 && strings.Contains(d, "chat not found")
	case ErrUnauthorized:
		return e.Code == 401
	case ErrConflict:
		return e.Code == 409
	case ErrTooLong:
		return e.Code == 400 && strings.Contains(d, "too long")
	}
	return false
}

// Client calls the Bot API of one bot.
type Client struct {
	BaseURL string // DefaultBaseURL or the emulator
	Token   string
	HTTP    *http.Client
}

// call POSTs params as JSON to method and decodes the result into out.
// The token is part of the URL and never appears in errors.
func (c *Client) call(ctx context.Context, method string, params, out any) error {
	body, err := json.Marshal(params)
	if err != nil {
		return err
	}
	base := strings.TrimRight(c.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/bot"+c.Token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("telegram %s: bad base URL %q", method, base)
	}
	req.Header.Set("Content-Type", "application/json")
	status, raw, err := chatchannel.Exchange(ctx, c.HTTP, req, 8<<20, "telegram "+method, ErrUnknownOutcome, c.Token)
	if err != nil {
		return err
	}
	var r Response
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("telegram %s: HTTP %d with an answer that is not the Bot API's JSON: %.120q", method, status, raw)
	}
	if !r.OK {
		e := &APIError{Method: method, Code: r.ErrorCode, Description: r.Description}
		if e.Code == 0 {
			e.Code = status
		}
		if r.Parameters != nil && r.Parameters.RetryAfter > 0 {
			e.RetryAfter = time.Duration(r.Parameters.RetryAfter) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, out); err != nil {
		return fmt.Errorf("telegram %s: unexpected result: %w", method, err)
	}
	return nil
}

func redact(s, token string) string { return chatchannel.Redact(s, token) }

// User is a Telegram user or bot (User in the Bot API).
type User struct {
	ID           int64  `json:"id"`
	IsBot        bool   `json:"is_bot"`
	FirstName    string `json:"first_name"`
	LastName     string `json:"last_name,omitempty"`
	Username     string `json:"username,omitempty"`
	LanguageCode string `json:"language_code,omitempty"`
}

// Chat is the chat a message belongs to (Chat in the Bot API).
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"` // private, group, supergroup, channel
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	LastName  string `json:"last_name,omitempty"`
}

// PhotoSize is one size of a photo.
type PhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// Document is a general file.
type Document struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// Location is a point on the map.
type Location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// Contact is a shared phone contact.
type Contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name,omitempty"`
	UserID      int64  `json:"user_id,omitempty"`
	VCard       string `json:"vcard,omitempty"`
}

// Message is a message (Message in the Bot API), the fields pbxgate reads.
type Message struct {
	MessageID int64       `json:"message_id"`
	From      *User       `json:"from,omitempty"`
	Date      int64       `json:"date"`
	Chat      Chat        `json:"chat"`
	Text      string      `json:"text,omitempty"`
	Caption   string      `json:"caption,omitempty"`
	Photo     []PhotoSize `json:"photo,omitempty"`
	Document  *Document   `json:"document,omitempty"`
	Location  *Location   `json:"location,omitempty"`
	Contact   *Contact    `json:"contact,omitempty"`
}

// ChatMemberUpdated reports a change of the bot's membership in a chat:
// in a private chat, "kicked" is the user blocking the bot.
type ChatMemberUpdated struct {
	Chat          Chat       `json:"chat"`
	From          User       `json:"from"`
	Date          int64      `json:"date"`
	OldChatMember ChatMember `json:"old_chat_member"`
	NewChatMember ChatMember `json:"new_chat_member"`
}

// ChatMember is a member's status in a chat.
type ChatMember struct {
	Status string `json:"status"` // member, kicked, left, ...
	User   User   `json:"user"`
}

// Update is one incoming update (Update in the Bot API).
type Update struct {
	UpdateID      int64              `json:"update_id"`
	Message       *Message           `json:"message,omitempty"`
	EditedMessage *Message           `json:"edited_message,omitempty"`
	MyChatMember  *ChatMemberUpdated `json:"my_chat_member,omitempty"`
}

// WebhookInfo is the bot's webhook status (getWebhookInfo).
type WebhookInfo struct {
	URL                  string `json:"url"`
	HasCustomCertificate bool   `json:"has_custom_certificate"`
	PendingUpdateCount   int    `json:"pending_update_count"`
	LastErrorDate        int64  `json:"last_error_date,omitempty"`
	LastErrorMessage     string `json:"last_error_message,omitempty"`
}

// GetMe returns the bot itself: the token's check ("test connection").
func (c *Client) GetMe(ctx context.Context) (User, error) {
	var u User
	err := c.call(ctx, "getMe", struct{}{}, &u)
	return u, err
}

// GetUpdates long-polls for updates from offset on; timeout is how long
// Telegram holds the request open when there is nothing.
func (c *Client) GetUpdates(ctx context.Context, offset int64, timeout time.Duration, limit int) ([]Update, error) {
	var ups []Update
	p := map[string]any{"timeout": int(timeout / time.Second), "allowed_updates": []string{"message", "my_chat_member"}}
	if offset != 0 {
		p["offset"] = offset
	}
	if limit > 0 {
		p["limit"] = limit
	}
	err := c.call(ctx, "getUpdates", p, &ups)
	return ups, err
}

// SetWebhook makes Telegram POST updates to url with secret in the
// X-Telegram-Bot-Api-Secret-Token header.
func (c *Client) SetWebhook(ctx context.Context, url, secret string) error {
	var ok bool
	return c.call(ctx, "setWebhook", map[string]any{"url": url, "secret_token": secret,
		"allowed_updates": []string{"message", "my_chat_member"}}, &ok)
}

// DeleteWebhook removes the webhook so getUpdates works; pending updates
// are kept.
func (c *Client) DeleteWebhook(ctx context.Context) error {
	var ok bool
	return c.call(ctx, "deleteWebhook", map[string]any{"drop_pending_updates": false}, &ok)
}

// GetWebhookInfo returns the webhook status.
func (c *Client) GetWebhookInfo(ctx context.Context) (WebhookInfo, error) {
	var w WebhookInfo
	err := c.call(ctx, "getWebhookInfo", struct{}{}, &w)
	return w, err
}

// SendMessage sends text to chatID.
func (c *Client) SendMessage(ctx context.Context, chatID int64, text string) (Message, error) {
	var m Message
	err := c.call(ctx, "sendMessage", map[string]any{"chat_id": chatID, "text": text}, &m)
	return m, err
}

// ParseChatID reads a subscriber address: "tg123456", "123456" or the
// "tg:" form.
func ParseChatID(addr string) (int64, error) {
	s := strings.TrimSpace(addr)
	s = strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(s), "tg:"), "tg")
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("%q is not a Telegram chat id (the number the bot sees, e.g. 123456789)", addr)
	}
	return id, nil
}

// Address is how pbxgate names a Telegram chat everywhere (sessions,
// consent, message log, SIP): "tg" and the chat id, so it can never be
// taken for a phone number.
func Address(chatID int64) string { return "tg" + strconv.FormatInt(chatID, 10) }
