package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/jpeg"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/mms"
)

// mmsReplyRig is a daemon with one simulated EC25 (Quectel's MMS commands
// on a pty, the simulator's MMSC on loopback, 300 KB limit), SMS sessions
// routed to extension 201 of a SIP peer on loopback, and one open session
// with a customer who wrote an SMS.
type mmsReplyRig struct {
	oneSIM
	portal   *portalClient
	session  string
	customer string
}

func startMMSReplyRig(t *testing.T) *mmsReplyRig {
	t.Helper()
	peer := startPBXPeer(t)
	gw := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t))
	d := startOneSIM(t, fmt.Sprintf(`sip:
  enabled: true
  mode: peer
  transport: udp
  listen: %s
  domain: pbxgate.test
  peer_address: %s
  allow_from: [127.0.0.1]
  sessions:
    routes: [{channel: sms, to: "201"}]
`, gw, peer.addr))
	r := &mmsReplyRig{oneSIM: d, customer: "+4917012345678"}
	injectSMS(t, d.p, onlySimIMEI(t, d.p), r.customer, "Können Sie mir ein Foto vom Angebot schicken?")
	select {
	case <-peer.inbox:
	case <-time.After(30 * time.Second):
		t.Fatalf("the customer's SMS did not reach extension 201; log:\n%s", d.p.log())
	}
	var list struct {
		Items []struct {
			ID      string `json:"id"`
			Contact string `json:"contact"`
		} `json:"items"`
	}
	d.api.do("GET", "/api/v1/sessions", nil, &list)
	if len(list.Items) != 1 || list.Items[0].Contact != r.customer {
		t.Fatalf("sessions %+v", list.Items)
	}
	r.session = list.Items[0].ID
	r.portal = newPortalClient(t, d.p.portal)
	r.portal.login("admin", "a new admin password")
	return r
}

// sessionEntry is a session log entry as the API shows it.
type sessionEntry struct {
	Seq        int    `json:"seq"`
	Dir        string `json:"dir"`
	Text       string `json:"text"`
	Status     string `json:"status"`
	Reason     string `json:"reason"`
	MediaType  string `json:"media_type"`
	MediaID    string `json:"media_id"`
	Attachment *struct {
		Name       string `json:"name"`
		Size       int    `json:"size"`
		Scaled     bool   `json:"scaled"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		FromWidth  int    `json:"from_width"`
		FromHeight int    `json:"from_height"`
	} `json:"attachment"`
}

func (r *mmsReplyRig) log(t *testing.T) []sessionEntry {
	t.Helper()
	var out struct {
		Log []sessionEntry `json:"log"`
	}
	r.api.do("GET", "/api/v1/sessions/"+r.session, nil, &out)
	return out.Log
}

// waitEntry waits until entry seq has a final status and returns it.
func (r *mmsReplyRig) waitEntry(t *testing.T, seq int) sessionEntry {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, e := range r.log(t) {
			if e.Seq == seq && (e.Status == "sent" || e.Status == "delivered" || e.Status == "failed") {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("entry %d never final: %+v\nlog:\n%s", seq, r.log(t), r.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// received lists the raw m-send-req PDUs the simulator's MMSC accepted.
func (r *mmsReplyRig) received(t *testing.T) [][]byte {
	t.Helper()
	var items []struct {
		Raw []byte `json:"raw"`
	}
	getJSON(t, r.p.portal+"sim/mmsc/received", &items)
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = it.Raw
	}
	return out
}

func (r *mmsReplyRig) mmscFailure(t *testing.T, mode string) {
	t.Helper()
	req, _ := http.NewRequest("PUT", r.p.portal+"sim/mmsc/failure", strings.NewReader(`{"mode":"`+mode+`"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("MMSC failure mode: %v %v", resp, err)
	}
	resp.Body.Close()
}

// apiReply posts a session reply as JSON and returns status and body.
func (r *mmsReplyRig) apiReply(t *testing.T, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", strings.TrimSuffix(r.api.base, "/")+"/api/v1/sessions/"+r.session+"/reply", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+r.api.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s", resp.Status, data)
	}
	return resp.StatusCode, out
}

// portalReply posts the session's reply form as a browser does
// (multipart, the file in part "file") and returns status and page.
func (r *mmsReplyRig) portalReply(t *testing.T, text, fileName string, file []byte) (int, string) {
	t.Helper()
	page := r.portal.get("/sessions/" + r.session)
	m := csrfRE.FindSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF token on the session page")
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("csrf_token", string(m[1]))
	_ = w.WriteField("text", text)
	if file != nil {
		fw, _ := w.CreateFormFile("file", fileName)
		_, _ = fw.Write(file)
	}
	w.Close()
	resp, err := r.portal.c.Post(r.portal.base+"/sessions/"+r.session+"/reply", w.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(body))
}

func noisyJPEG(w, h int, seed int64) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	rnd := rand.New(rand.NewSource(seed))
	for i := range img.Pix {
		img.Pix[i] = byte(rnd.Intn(256))
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 95})
	return b.Bytes()
}

// checkMMSPDU checks an m-send-req as the MMSC got it against
// OMA-MMS-ENC-V1_3: the PDU starts with X-Mms-Message-Type (field 0x0C,
// encoded 0x8C) = m-send-req (0x80), then X-Mms-Transaction-ID (0x18,
// encoded 0x98) (§6.1, §7.3); it is addressed to the customer and its
// picture part is a JPEG (decoded with image/jpeg) of w×h within the
// limit. It returns the picture.
func checkMMSPDU(t *testing.T, raw []byte, to string, w, h, limit int) []byte {
	t.Helper()
	if len(raw) < 3 || raw[0] != 0x8C || raw[1] != 0x80 || raw[2] != 0x98 {
		t.Fatalf("PDU does not start with X-Mms-Message-Type m-send-req, X-Mms-Transaction-ID: % x", raw[:min(len(raw), 8)])
	}
	if len(raw) > limit {
		t.Fatalf("the MMS has %d bytes, over the %d limit", len(raw), limit)
	}
	m, err := mms.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != mms.TypeSendReq || len(m.To) != 1 || m.To[0] != to {
		t.Fatalf("m-send-req %+v", m)
	}
	media := m.Media()
	if len(media) != 1 || media[0].ContentType != "image/jpeg" {
		t.Fatalf("media parts %+v", media)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(media[0].Data))
	if err != nil || cfg.Width != w || cfg.Height != h {
		t.Fatalf("picture: %v %dx%d, want %dx%d", err, cfg.Width, cfg.Height, w, h)
	}
	return media[0].Data
}

// A chat reply with a photo through the API and through the portal's
// reply form (German) on an SMS session: each is fitted to sim1's 300 KB
// limit, goes out as MMS through the simulated EC25's pty to the
// simulator's MMSC, and the session log shows it sent with what fitting
// did; the portal shows the thumbnail and the result.
func TestSessionReplyWithPhotoAsMMS(t *testing.T) {
	t.Parallel()
	r := startMMSReplyRig(t)
	page := string(r.portal.get("/sessions/" + r.session))
	if !strings.Contains(page, `id="reply-file"`) || !strings.Contains(page, "Datei anhängen (die Antwort geht als MMS)") ||
		!strings.Contains(page, `enctype="multipart/form-data"`) || !strings.Contains(page, "SIM sim1") {
		t.Fatalf("no attach field on the German session page:\n%s", page)
	}

	code, out := r.apiReply(t, map[string]any{"text": "Hier das Angebot", "media": map[string]any{"name": "angebot.jpg", "data": noisyJPEG(1200, 900, 7)}})
	att, _ := out["attachment"].(map[string]any)
	if code != http.StatusOK || att == nil || att["scaled"] != true || att["sim"] != "sim1" || att["limit"].(float64) != 300*1024 {
		t.Fatalf("API reply: %d %v", code, out)
	}
	w, h := int(att["width"].(float64)), int(att["height"].(float64))
	if w >= 1200 || h >= 900 || w < 160 || (w*3-h*4) > 4 || (h*4-w*3) > 4 { // scaled down, 4:3 kept
		t.Fatalf("scaled to %dx%d", w, h)
	}
	log := r.log(t)
	last := log[len(log)-1]
	if e := r.waitEntry(t, last.Seq); e.Status != "sent" || e.Text != "Hier das Angebot" || e.MediaType != "image/jpeg" || e.Attachment == nil {
		t.Fatalf("API reply entry %+v", e)
	}
	got := r.received(t)
	if len(got) != 1 {
		t.Fatalf("MMSC got %d MMS", len(got))
	}
	sent := checkMMSPDU(t, got[0], r.customer, w, h, 300*1024)
	if len(sent) != int(att["size"].(float64)) {
		t.Fatalf("the MMS carries %d bytes, the fitted file has %v", len(sent), att["size"])
	}

	// The portal: a photo without text, German result in the log.
	code, page = r.portalReply(t, "", "foto.jpg", noisyJPEG(1000, 800, 8))
	if code != http.StatusOK || !strings.Contains(page, "Die Antwort mit Datei ist gespeichert") {
		t.Fatalf("portal reply: %d\n%s", code, page)
	}
	log = r.log(t)
	last = log[len(log)-1]
	e := r.waitEntry(t, last.Seq)
	if e.Status != "sent" || e.Attachment == nil || !e.Attachment.Scaled || e.Attachment.FromWidth != 1000 {
		t.Fatalf("portal reply entry %+v", e)
	}
	page = string(r.portal.get("/sessions/" + r.session))
	want := fmt.Sprintf("foto.jpg: verkleinert von 1000×800 auf %d×%d Pixel", e.Attachment.Width, e.Attachment.Height)
	if !strings.Contains(html.UnescapeString(page), want) || !strings.Contains(page, `<img src="/sessions/`+r.session+`/media/`+e.MediaID) {
		t.Fatalf("the chat log does not show the file (%q):\n%s", want, page)
	}
	if got = r.received(t); len(got) != 2 {
		t.Fatalf("MMSC got %d MMS", len(got))
	}
	thumb := r.portal.get("/sessions/" + r.session + "/media/" + e.MediaID)
	if !bytes.Equal(thumb, checkMMSPDU(t, got[1], r.customer, e.Attachment.Width, e.Attachment.Height, 300*1024)) {
		t.Fatal("the portal's file is not the one sent")
	}
	if !strings.HasPrefix(e.MediaID, "mmsout-") || filepath.Base(e.MediaID) != e.MediaID {
		t.Fatalf("media id %q", e.MediaID)
	}
}

// A file that cannot be fitted (a PDF over the 300 KB limit; only pictures
// can be made smaller) is refused at the field with the reason in German
// and English, and through the API on field media; nothing is stored in
// the session and nothing reaches the MMSC. An MMSC failure shows on the
// session entry as failed with the MMSC's reason.
func TestSessionReplyFileRefusedAndMMSCFailure(t *testing.T) {
	t.Parallel()
	r := startMMSReplyRig(t)
	before := len(r.log(t))
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...)

	code, page := r.portalReply(t, "Der Katalog", "katalog.pdf", pdf)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "nur Bilder lassen sich verkleinern") || !strings.Contains(page, "300 KB") ||
		!strings.Contains(page, `aria-invalid="true"`) || !strings.Contains(page, ">Der Katalog</textarea>") {
		t.Fatalf("German refusal: %d\n%s", code, page)
	}
	r.portal.get("/lang/en")
	code, page = r.portalReply(t, "The catalogue", "katalog.pdf", pdf)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "only pictures can be made smaller") || !strings.Contains(page, "at most 300 KB") {
		t.Fatalf("English refusal: %d\n%s", code, page)
	}
	code, out := r.apiReply(t, map[string]any{"text": "Katalog", "media": map[string]any{"name": "katalog.pdf", "data": pdf}})
	if e, _ := out["error"].(map[string]any); code != http.StatusUnprocessableEntity || e["field"] != "media" || !strings.Contains(e["message"].(string), "300 KB") {
		t.Fatalf("API refusal: %d %v", code, out)
	}
	code, out = r.apiReply(t, map[string]any{"media": map[string]any{"name": "setup.exe", "data": []byte("MZ\x90\x00binary")}})
	if e, _ := out["error"].(map[string]any); code != http.StatusUnprocessableEntity || e["field"] != "media" || !strings.Contains(e["message"].(string), "cannot be sent as MMS") {
		t.Fatalf("API refusal of a program: %d %v", code, out)
	}
	if n := len(r.log(t)); n != before {
		t.Fatalf("refused files left %d entries in the session", n-before)
	}
	if got := r.received(t); len(got) != 0 {
		t.Fatalf("the MMSC got %d MMS for refused files", len(got))
	}

	r.mmscFailure(t, "status")
	vcard := []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Muster GmbH\r\nTEL:+4930123456\r\nEND:VCARD\r\n")
	code, out = r.apiReply(t, map[string]any{"text": "Unsere Karte", "media": map[string]any{"name": "karte.vcf", "data": vcard}})
	if code != http.StatusOK {
		t.Fatalf("reply with vCard: %d %v", code, out)
	}
	log := r.log(t)
	e := r.waitEntry(t, log[len(log)-1].Seq)
	if e.Status != "failed" || !strings.Contains(e.Reason, "MMSC refused") || e.MediaType != "text/vcard" {
		t.Fatalf("MMSC failure entry %+v", e)
	}
	page = string(r.portal.get("/sessions/" + r.session))
	if !strings.Contains(html.UnescapeString(page), "the carrier's MMSC refused the MMS") || !strings.Contains(page, "karte.vcf") {
		t.Fatalf("the portal does not show the failure:\n%s", page)
	}
}
