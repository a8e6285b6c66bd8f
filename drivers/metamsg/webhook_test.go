package metamsg_test

// Webhook tests built from Meta's own published examples, not from the
// emulator's output. Each test names the page its payloads follow:
//   - Messenger Platform, "messages Webhook Event Reference"
//     (developers.facebook.com/docs/messenger-platform/reference/webhook-events/messages):
//     text with quick_reply, reply_to, message with attachment.
//   - "message_echoes Webhook Event Reference", "message_deliveries
//     Webhook Event Reference", "message_reads Webhook Event Reference".
//   - "messaging_postbacks Webhooks Reference" (timestamp as a string of
//     seconds, postback with referral).
//   - "Webhooks for Instagram Messaging"
//     (developers.facebook.com/docs/messenger-platform/instagram/features/webhook):
//     object "instagram", entry.id the IGID, sender the IGSID.
//   - Graph API webhooks "Getting Started": GET hub.mode=subscribe,
//     hub.verify_token, hub.challenge echoed; X-Hub-Signature-256 is
//     "sha256=" + HMAC-SHA256 of the raw payload keyed with the app secret.
// The placeholders of the examples (<PSID>, <PAGE_ID>, IGSID) are replaced
// by digits, as Meta's ids are.

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/gateway/message"
)

const (
	pageID = "682498302938465"  // the entry.id of the attachment example
	psid   = "1254477777772919" // the recipient_id of the quick replies example
	secret = "app-secret-of-the-test"
)

func webhookServer(t *testing.T, ch *metamsg.Channel) string {
	t.Helper()
	srv := httptest.NewServer(ch.Webhook())
	t.Cleanup(srv.Close)
	return srv.URL
}

func post(t *testing.T, url, sig string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(metamsg.SignatureHeader, sig)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func wrap(object, entryID string, events ...string) []byte {
	return []byte(`{"object":"` + object + `","entry":[{"id":"` + entryID + `","time":1458692752478,"messaging":[` +
		strings.Join(events, ",") + `]}]}`)
}

func fill(s string) string {
	return strings.NewReplacer("<PSID>", psid, "<PAGE_ID>", pageID, "<DEVELOPER_DEFINED_PAYLOAD>", "COLOR_RED",
		"<ATTACHMENT_URL>", "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg", "<image|video|audio|file|reel|ig_reel>", "image").Replace(s) // netscope: Meta's example attachment URL, never fetched
}

// The Messenger examples, signed, one notification each: each becomes
// one inbound message with the sender as "fb<PSID>"; the echo, the
// delivery and the read produce none.
func TestWebhookMessengerExamples(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	ch := r.channel(t, metamsg.Options{Platform: metamsg.Messenger, AccountID: pageID, AppSecret: secret})
	url := webhookServer(t, ch)
	examples := []struct {
		name, event string
		want        message.Inbound
	}{
		{"text with quick_reply", `{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,
			"message":{"mid":"mid.1457764197618:41d102a3e1ae206a38","text":"hello, world!","quick_reply":{"payload":"<DEVELOPER_DEFINED_PAYLOAD>"}}}`,
			message.Inbound{ID: "fb-mid.1457764197618:41d102a3e1ae206a38", Text: "hello, world!", Payload: "COLOR_RED"}},
		{"reply", `{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,
			"message":{"mid":"m_1457764197618:41d102a3e1ae206a38","text":"hello, world!","reply_to":{"mid":"m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU","is_self_reply":false}}}`,
			message.Inbound{ID: "fb-m_1457764197618:41d102a3e1ae206a38", Text: "hello, world!", ReplyTo: "m_1fTq8oLumEyIp3Q2MR-aY7IfLZDamVrALniheU"}},
		{"attachment", `{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1518479195308,
			"message":{"mid":"mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c","attachments":[{"type":"<image|video|audio|file|reel|ig_reel>","payload":{"url":"<ATTACHMENT_URL>"}}]}}`,
			message.Inbound{ID: "fb-mid.$cAAJdkrCd2ORnva8ErFhjGm0X_Q_c", Text: "(image)", MediaType: "image", MediaID: "https://scontent.xx.fbcdn.net/v/t1.15752-9/photo.jpg"}}, // netscope: the example URL, never fetched
		{"postback with referral", `{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":"1527459824",
			"postback":{"mid":"m_MESSAGE-ID","title":"TITLE-FOR-THE-CTA","payload":"USER-DEFINED-PAYLOAD",
			"referral":{"ref":"USER-DEFINED-REFERRAL-PARAM","source":"SHORT-URL","type":"OPEN_THREAD"}}}`,
			message.Inbound{ID: "fb-m_MESSAGE-ID", Text: "TITLE-FOR-THE-CTA", Payload: "USER-DEFINED-REFERRAL-PARAM"}},
	}
	for _, ex := range examples {
		body := wrap("page", pageID, fill(ex.event))
		if code := post(t, url, metamsg.Sign(secret, body), body); code != http.StatusOK {
			t.Fatalf("%s: webhook answered %d", ex.name, code)
		}
		got := r.next(t)
		w := ex.want
		if got.ID != w.ID || got.Text != w.Text || got.Payload != w.Payload || got.MediaType != w.MediaType ||
			got.MediaID != w.MediaID || got.ReplyTo != w.ReplyTo || got.From != "fb"+psid || got.Kind != message.Messenger || got.Channel != "messenger" {
			t.Errorf("%s: got %+v, want %+v from fb%s", ex.name, got, w, psid)
		}
	}
	// The postback's timestamp is seconds as a string: read as 2018-05-27.
	sub, ok, err := ch.Subscriber(psid)
	if err != nil || !ok || sub.LastIn.Year() != 2018 || sub.Payload != "USER-DEFINED-REFERRAL-PARAM" {
		t.Fatalf("subscriber after the examples: %+v %v %v", sub, ok, err)
	}
	// Echo, delivery, read: stored nowhere as inbound messages.
	for _, ev := range []string{
		`{"sender":{"id":"<PAGE_ID>"},"recipient":{"id":"<PSID>"},"timestamp":1457764197627,"message":{"is_echo":true,"app_id":1517776481860111,"metadata":"m","mid":"mid.1457764197618:41d102a3e1ae206a39","text":"our reply"}}`,
		`{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"delivery":{"mids":["mid.1458668856218:ed81099e15d3f4f233"],"watermark":1458668856253}}`,
		`{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458668856463,"read":{"watermark":1458668856253}}`,
	} {
		body := wrap("page", pageID, fill(ev))
		if code := post(t, url, metamsg.Sign(secret, body), body); code != http.StatusOK {
			t.Fatalf("webhook answered %d to %s", code, ev)
		}
	}
	r.none(t)
	// Another Page's entry and an Instagram notification are not this
	// Page's: ignored, but confirmed (Meta would resend them forever).
	for _, body := range [][]byte{
		wrap("page", "999", fill(examples[0].event)),
		wrap("instagram", pageID, fill(examples[0].event)),
	} {
		if code := post(t, url, metamsg.Sign(secret, body), body); code != http.StatusOK {
			t.Fatalf("webhook answered %d", code)
		}
	}
	r.none(t)
}

// Instagram Messaging's example: object "instagram", the sender's IGSID
// becomes "ig<IGSID>".
func TestWebhookInstagramExample(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Instagram)
	const igid, igsid = "17841400000000001", "6543210987654321"
	ch := r.channel(t, metamsg.Options{Platform: metamsg.Instagram, AccountID: igid, AppSecret: secret})
	url := webhookServer(t, ch)
	body := []byte(`{"object":"instagram","entry":[{"id":"` + igid + `","time":1569262486134,"messaging":[{
		"sender":{"id":"` + igsid + `"},"recipient":{"id":"` + igid + `"},"timestamp":1569262485349,
		"message":{"mid":"MESSAGE-ID","text":"MESSAGE-TEXT"}}]}]}`)
	if code := post(t, url, metamsg.Sign(secret, body), body); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	got := r.next(t)
	if got.ID != "ig-MESSAGE-ID" || got.Text != "MESSAGE-TEXT" || got.From != "ig"+igsid || got.Kind != message.Instagram || got.Receiver != igid {
		t.Fatalf("got %+v", got)
	}
	// A Messenger ("page") notification is not Instagram's.
	page := wrap("page", igid, `{"sender":{"id":"1"},"recipient":{"id":"2"},"timestamp":1,"message":{"mid":"x","text":"y"}}`)
	if code := post(t, url, metamsg.Sign(secret, page), page); code != http.StatusOK {
		t.Fatalf("webhook answered %d", code)
	}
	r.none(t)
}

// The signature is HMAC-SHA256 of the raw body with the app secret:
// missing, wrong, another secret's or a changed body's are refused with
// 401 and store nothing; the subscription check echoes hub.challenge only
// with the right verify token.
func TestWebhookSignatureAndHandshake(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	ch := r.channel(t, metamsg.Options{Platform: metamsg.Messenger, AccountID: pageID, AppSecret: secret, VerifyToken: "verify-me"})
	url := webhookServer(t, ch)
	body := wrap("page", pageID, fill(`{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,"message":{"mid":"m1","text":"hi"}}`))
	good := metamsg.Sign(secret, body)
	for name, c := range map[string]struct {
		sig  string
		body []byte
	}{
		"missing":        {"", body},
		"not sha256":     {strings.Replace(good, "sha256=", "sha1=", 1), body},
		"other secret":   {metamsg.Sign("another", body), body},
		"changed body":   {good, bytes.Replace(body, []byte(`"hi"`), []byte(`"ho"`), 1)},
		"not hex":        {"sha256=zz", body},
		"truncated hmac": {good[:len(good)-2], body},
	} {
		if code := post(t, url, c.sig, c.body); code != http.StatusUnauthorized {
			t.Errorf("%s signature: %d, want 401", name, code)
		}
	}
	r.none(t)
	if code := post(t, url, good, body); code != http.StatusOK {
		t.Fatalf("signed: %d", code)
	}
	if in := r.next(t); in.Text != "hi" {
		t.Fatalf("got %+v", in)
	}
	get := func(q string) (int, string) {
		res, err := http.Get(url + "?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, b := get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=verify-me"); code != 200 || b != "1158201444" {
		t.Fatalf("handshake: %d %q", code, b)
	}
	if code, _ := get("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=wrong"); code != http.StatusForbidden {
		t.Fatalf("wrong verify token: %d", code)
	}
}

// A notification the inbox cannot store is answered 503, so Meta sends it
// again; nothing is confirmed that is not on disk.
func TestWebhookNotStoredIsRetried(t *testing.T) {
	t.Parallel()
	r := newRig(t, metamsg.Messenger)
	ch := r.channel(t, metamsg.Options{Platform: metamsg.Messenger, AccountID: pageID, AppSecret: secret, Inbox: failingInbox{}})
	url := webhookServer(t, ch)
	body := wrap("page", pageID, fill(`{"sender":{"id":"<PSID>"},"recipient":{"id":"<PAGE_ID>"},"timestamp":1458692752478,"message":{"mid":"m1","text":"hi"}}`))
	if code := post(t, url, metamsg.Sign(secret, body), body); code != http.StatusServiceUnavailable {
		t.Fatalf("webhook answered %d, want 503", code)
	}
}

type failingInbox struct{}

func (failingInbox) Accept(context.Context, message.Inbound) error { return io.ErrShortWrite }

type httpHandlerFunc func() *metamsg.Channel

func (f httpHandlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f().Webhook().ServeHTTP(w, r)
}
