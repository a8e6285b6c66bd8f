package metamsg

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/drivers/chatchannel"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// SignatureHeader carries Meta's HMAC-SHA256 of the raw body, keyed with
// the app secret ("sha256=" + hex).
const SignatureHeader = "X-Hub-Signature-256"

// Sign returns the X-Hub-Signature-256 value of body.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// ValidSignature checks header against body in constant time.
func ValidSignature(appSecret, header string, body []byte) bool {
	sum, ok := strings.CutPrefix(header, "sha256=")
	if !ok || appSecret == "" {
		return false
	}
	got, err := hex.DecodeString(sum)
	if err != nil {
		return false
	}
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Notification is a webhook call: object "page" (Messenger) or
// "instagram", with messaging events per entry.
type Notification struct {
	Object string  `json:"object"`
	Entry  []Entry `json:"entry"`
}

// Entry is one Page's or account's batch of events.
type Entry struct {
	ID        string  `json:"id"`
	Time      int64   `json:"time"`
	Messaging []Event `json:"messaging"`
}

// Event is one entry.messaging[] item.
type Event struct {
	Sender    ID        `json:"sender"`
	Recipient ID        `json:"recipient"`
	Timestamp Millis    `json:"timestamp"`
	Message   *Msg      `json:"message,omitempty"`
	Postback  *Postback `json:"postback,omitempty"`
	Referral  *Ref      `json:"referral,omitempty"`
	Delivery  *Delivery `json:"delivery,omitempty"`
	Read      *Read     `json:"read,omitempty"`
}

// Millis is a timestamp in milliseconds. Meta documents it as a number
// in entry.messaging[] but as a string in its field/value examples ("All
// JSON properties in a webhook notification are strings",
// messaging_postbacks reference): both are read.
type Millis int64

// UnmarshalJSON reads 1458692752478 and "1458692752478".
func (m *Millis) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*m = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: %w", b, err)
	}
	if n > 0 && n < 100_000_000_000 {
		n *= 1000 // seconds (the messaging_postbacks example: "1527459824")
	}
	*m = Millis(n)
	return nil
}

// ID is {"id": "..."}.
type ID struct {
	ID string `json:"id"`
}

// Msg is a message event's message.
type Msg struct {
	MID         string       `json:"mid"`
	Text        string       `json:"text,omitempty"`
	IsEcho      bool         `json:"is_echo,omitempty"`
	IsDeleted   bool         `json:"is_deleted,omitempty"`
	QuickReply  *QuickReply  `json:"quick_reply,omitempty"`
	Attachments []Attachment `json:"attachments,omitempty"`
	ReplyTo     *struct {
		MID string `json:"mid"`
	} `json:"reply_to,omitempty"`
	IsUnsupported bool `json:"is_unsupported,omitempty"`
}

// QuickReply is a tapped quick reply's payload.
type QuickReply struct {
	Payload string `json:"payload"`
}

// Attachment is an image, video, audio, file, location or fallback.
type Attachment struct {
	Type    string `json:"type"`
	Payload struct {
		URL         string `json:"url,omitempty"`
		Title       string `json:"title,omitempty"`
		Coordinates *struct {
			Lat  float64 `json:"lat"`
			Long float64 `json:"long"`
		} `json:"coordinates,omitempty"`
	} `json:"payload"`
}

// Postback is a tapped button (Get Started, persistent menu).
type Postback struct {
	MID      string `json:"mid,omitempty"`
	Title    string `json:"title"`
	Payload  string `json:"payload"`
	Referral *Ref   `json:"referral,omitempty"`
}

// Ref is the m.me/ig.me link's ref parameter or an ad the person came by.
type Ref struct {
	Ref    string `json:"ref,omitempty"`
	Source string `json:"source,omitempty"`
	Type   string `json:"type,omitempty"`
}

// Delivery says messages up to watermark reached the person.
type Delivery struct {
	MIDs      []string `json:"mids,omitempty"`
	Watermark int64    `json:"watermark"`
}

// Read says the person read messages up to watermark.
type Read struct {
	Watermark int64 `json:"watermark"`
}

// Object is the webhook "object" of the platform.
func Object(p Platform) string {
	if p == Instagram {
		return "instagram"
	}
	return "page"
}

// Webhook serves Meta's webhook: GET is the subscription check
// (hub.mode, hub.verify_token, hub.challenge); POST must carry a valid
// X-Hub-Signature-256, and its messages are in the inbox before Meta gets
// its 200 (anything else makes Meta send the notification again).
func (ch *Channel) Webhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			ch.handshake(w, r)
		case http.MethodPost:
			ch.receive(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}

func (ch *Channel) handshake(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	want := ch.o.VerifyToken
	if q.Get("hub.mode") != "subscribe" || want == "" ||
		subtle.ConstantTimeCompare([]byte(q.Get("hub.verify_token")), []byte(want)) != 1 {
		ch.log.Warn(ch.pfx() + ": webhook verification refused: hub.verify_token does not match " + string(ch.o.Platform) + ".verify_token")
		http.Error(w, "verification failed", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, q.Get("hub.challenge"))
}

func (ch *Channel) receive(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, chatchannel.MaxWebhookBody))
	if err != nil {
		http.Error(w, "notification too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	if !ValidSignature(ch.o.AppSecret, r.Header.Get(SignatureHeader), body) {
		ch.log.Warn(ch.pfx()+": webhook call with a missing or wrong signature refused; check the app secret", "remote", r.RemoteAddr)
		http.Error(w, "invalid signature", http.StatusUnauthorized)
		return
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, "not a Meta webhook notification: "+err.Error(), http.StatusBadRequest)
		return
	}
	if err := ch.HandleNotification(r.Context(), n); err != nil {
		ch.log.Warn(ch.pfx()+": webhook notification not stored; Meta will send it again", "err", err)
		chatchannel.NotStored(w)
		return
	}
	ch.noteOK()
	w.WriteHeader(http.StatusOK)
}

// HandleNotification takes a notification whose signature is checked.
// Another platform's object, another account's entries and the page's
// own echoes are ignored; nil means all of it is stored.
func (ch *Channel) HandleNotification(ctx context.Context, n Notification) error {
	if n.Object != Object(ch.o.Platform) {
		return nil
	}
	var errs []error
	for _, e := range n.Entry {
		if ch.o.AccountID != "" && e.ID != ch.o.AccountID {
			continue
		}
		for _, ev := range e.Messaging {
			if err := ch.handleEvent(ctx, ev); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (ch *Channel) handleEvent(ctx context.Context, ev Event) error {
	switch {
	case ev.Delivery != nil:
		return ch.delivered(ctx, ev.Sender.ID, ev.Delivery)
	case ev.Read != nil:
		return ch.read(ctx, ev.Sender.ID, ev.Read)
	case ev.Message != nil && (ev.Message.IsEcho || ev.Message.IsDeleted):
		return nil // the page's own messages; deletions
	case ev.Message == nil && ev.Postback == nil && ev.Referral == nil:
		return nil // reactions, optins and the rest: not conversations here
	}
	if ev.Sender.ID == "" || ev.Sender.ID == ch.o.AccountID {
		return nil
	}
	in, ok := ch.inbound(ev)
	if !ok {
		return nil
	}
	if err := ch.remember(ev.Sender.ID, in.At, in.Payload); err != nil {
		return err
	}
	return ch.cc.Health.Accept(ctx, ch.o.Inbox, in)
}

// inbound converts a message, postback or referral event. A link's ref
// (m.me/<page>?ref=…, ig.me/m/<user>?ref=…) and a postback's payload
// become Payload; the Get Started button (a postback without text) is the
// opt-in keyword START.
func (ch *Channel) inbound(ev Event) (message.Inbound, bool) {
	at := time.UnixMilli(int64(ev.Timestamp)).UTC()
	if ev.Timestamp == 0 {
		at = time.Now().UTC()
	}
	in := message.Inbound{Kind: ch.Kind(), Channel: ch.o.Name, Receiver: ch.o.AccountID,
		From: ch.Address(ev.Sender.ID), At: at}
	switch {
	case ev.Message != nil:
		m := ev.Message
		in.ID = ch.pfx() + "-" + m.MID
		in.Text = m.Text
		if m.QuickReply != nil {
			in.Payload = m.QuickReply.Payload
		}
		if m.ReplyTo != nil {
			in.ReplyTo = m.ReplyTo.MID
		}
		if len(m.Attachments) > 0 && in.Text == "" {
			a := m.Attachments[0]
			switch a.Type {
			case "image", "video", "audio":
				in.MediaType, in.MediaID = a.Type, a.Payload.URL
				in.Text = "(" + a.Type + ")"
			case "file":
				in.MediaType, in.MediaID = "document", a.Payload.URL
				in.Text = "(file)"
			case "location":
				in.MediaType = "location"
				if c := a.Payload.Coordinates; c != nil {
					in.Text = fmt.Sprintf("%.6f, %.6f", c.Lat, c.Long)
				}
			default:
				in.Unsupported = "this kind of " + ch.label() + " attachment is not shown here"
				in.Text = "(unsupported " + ch.label() + " message)"
			}
		}
		if m.IsUnsupported || (in.Text == "" && in.MediaType == "") {
			in.Unsupported = "this kind of " + ch.label() + " message is not shown here"
			in.Text = "(unsupported " + ch.label() + " message)"
		}
	case ev.Postback != nil:
		p := ev.Postback
		in.ID = ch.pfx() + "-pb-" + ev.Sender.ID + "-" + fmt.Sprint(ev.Timestamp)
		if p.MID != "" {
			in.ID = ch.pfx() + "-" + p.MID
		}
		in.Text, in.Payload = p.Title, p.Payload
		if strings.EqualFold(p.Payload, "GET_STARTED") || p.Title == "" || strings.EqualFold(p.Title, "Get Started") {
			in.Text = "START"
		}
		if p.Referral != nil && p.Referral.Ref != "" {
			in.Payload = p.Referral.Ref
		}
	case ev.Referral != nil:
		// Opening m.me/<page>?ref=… in an existing thread: no text, but
		// the link's ref is this person's opt-in source.
		in.ID = ch.pfx() + "-ref-" + ev.Sender.ID + "-" + fmt.Sprint(ev.Timestamp)
		in.Text, in.Payload = "START", ev.Referral.Ref
	}
	return in, in.ID != ""
}
