package main

import (
	"bytes"
	"encoding/json"
	"html"
	"image"
	"image/jpeg"
	"io"
	"math/rand"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mmsPost sends a multipart form to the API and returns status and body.
func mmsPost(t *testing.T, a *apiClient, path string, fields map[string]string, fileName string, file []byte) (int, map[string]any) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", fileName)
		_, _ = fw.Write(file)
	}
	w.Close()
	req, _ := http.NewRequest("POST", strings.TrimSuffix(a.base, "/")+path, &b)
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", w.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: %s %s", path, resp.Status, data)
	}
	return resp.StatusCode, out
}

// The daemon in demo mode: a simulated EC25 (Quectel MMS dialect) with
// the simulator's MMSC on loopback. The API fits a photo to the 300 KB
// default and sends it through the pty; it refuses audio over the limit
// and a bad recipient with the reason.
func TestDaemonMMSThroughAPI(t *testing.T) {
	d := startOneSIM(t, "")
	var modems struct {
		Items []struct {
			Name      string `json:"name"`
			Known     bool   `json:"known"`
			Send      bool   `json:"send"`
			Receive   bool   `json:"receive"`
			Dialect   string `json:"dialect"`
			MaxSizeKB int    `json:"max_size_kb"`
		} `json:"items"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		d.api.do("GET", "/api/v1/mms/modems", nil, &modems)
		if len(modems.Items) == 1 && modems.Items[0].Known {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sim1 never reported its MMS capability: %+v", modems)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if m := modems.Items[0]; m.Name != "sim1" || !m.Send || m.Receive || m.Dialect != "quectel" || m.MaxSizeKB != 300 {
		t.Fatalf("sim1: %+v", m)
	}
	var presets struct {
		Items []struct{ ID string } `json:"items"`
	}
	d.api.do("GET", "/api/v1/mms/presets", nil, &presets)
	if len(presets.Items) < 9 || presets.Items[0].ID != "de-telekom" {
		t.Fatalf("presets %+v", presets.Items)
	}

	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	r := rand.New(rand.NewSource(3))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})

	code, out := mmsPost(t, d.api, "/api/v1/mms/messages", map[string]string{"to": "+4917012345678", "text": "Angebot", "subject": "Heute"}, "foto.jpg", photo.Bytes())
	if code != http.StatusCreated {
		t.Fatalf("send: %d %v", code, out)
	}
	fit := out["fit"].(map[string]any)
	if out["modem"] != "sim1" || out["result"] != "+QMMSEND: 0,200" || fit["scaled"] != true || fit["size"].(float64) > 300*1024 {
		t.Fatalf("outcome %v", out)
	}

	code, out = mmsPost(t, d.api, "/api/v1/mms/messages", map[string]string{"to": "+4917012345678"}, "voice.amr", append([]byte("#!AMR\n"), make([]byte, 400*1024)...))
	e, _ := out["error"].(map[string]any)
	if code != http.StatusUnprocessableEntity || e["code"] != "mms_too_large" || e["limit_kb"].(float64) != 300 || e["field"] != "file" {
		t.Fatalf("audio over the limit: %d %v", code, out)
	}
	code, out = mmsPost(t, d.api, "/api/v1/mms/messages", map[string]string{"to": "0170 123"}, "a.jpg", photo.Bytes()[:100])
	if e, _ := out["error"].(map[string]any); code != http.StatusBadRequest || e["field"] != "to" {
		t.Fatalf("bad recipient: %d %v", code, out)
	}
	code, out = mmsPost(t, d.api, "/api/v1/mms/fit", map[string]string{"limit_kb": "100"}, "foto.jpg", photo.Bytes())
	if code != http.StatusOK || out["scaled"] != true || out["size"].(float64) > 100*1024 {
		t.Fatalf("fit: %d %v", code, out)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// portalMMS posts the MMS form as a browser does and returns status and page.
func portalMMS(t *testing.T, p *portalClient, fields map[string]string, fileName string, file []byte) (int, string) {
	t.Helper()
	m := csrfRE.FindSubmatch(p.get("/mms"))
	if m == nil {
		t.Fatal("no CSRF token on /mms")
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("csrf_token", string(m[1]))
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", fileName)
	_, _ = fw.Write(file)
	w.Close()
	resp, err := p.c.Post(p.base+"/mms", w.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, html.UnescapeString(string(body))
}

// The MMS screen in German and English: capability per modem, the
// refusal's reason in the user's language, the scaling reported.
func TestPortalMMSGermanAndEnglish(t *testing.T) {
	d := startOneSIM(t, "")
	p := newPortalClient(t, d.p.portal)
	p.login("admin", "a new admin password")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(string(p.get("/mms")), `id="mms-form"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no MMS form (sim1 not capable?):\n%s", p.get("/mms"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	page := html.UnescapeString(string(p.get("/mms")))
	for _, want := range []string{"Modems und MMS", "MMS senden", "nur Benachrichtigung", "Netzbetreiber-Vorlagen", "de-telekom"} {
		if !strings.Contains(page, want) {
			t.Errorf("German page lacks %q", want)
		}
	}
	code, page := portalMMS(t, p, map[string]string{"modem": "sim1", "to": "+4917012345678"}, "ansage.amr", append([]byte("#!AMR\n"), make([]byte, 400*1024)...))
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "nur Bilder lassen sich verkleinern") || !strings.Contains(page, "300 KB") {
		t.Fatalf("German refusal: %d\n%s", code, page)
	}
	p.get("/lang/en")
	img := image.NewRGBA(image.Rect(0, 0, 1000, 800))
	r := rand.New(rand.NewSource(4))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})
	code, page = portalMMS(t, p, map[string]string{"modem": "sim1", "to": "+4917012345678", "text": "Hello"}, "photo.jpg", photo.Bytes())
	if code != http.StatusOK || !strings.Contains(page, "MMS to +4917012345678 sent through sim1") || !strings.Contains(page, "The picture was made smaller to fit: 1000×800") {
		t.Fatalf("English send: %d\n%s", code, page)
	}
	code, page = portalMMS(t, p, map[string]string{"modem": "sim1", "to": "0170"}, "photo.jpg", photo.Bytes())
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "international format") {
		t.Fatalf("bad recipient: %d", code)
	}
}
