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

// An MMS campaign through the daemon's API: the demo SIM (a simulated EC25
// speaking Quectel's MMS commands on a pty, the simulator's MMSC on
// loopback) gets a photo fitted to the 300 KB default at save and sends
// it to each recipient; a PDF over the limit is refused at save with the
// reason on field "media" and no campaign is created.
func TestDaemonMMSCampaignThroughAPI(t *testing.T) {
	d := startOneSIM(t, "")
	img := image.NewRGBA(image.Rect(0, 0, 1200, 900))
	r := rand.New(rand.NewSource(4))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})

	post := func(body []byte) (int, map[string]any) {
		req, _ := http.NewRequest("POST", strings.TrimSuffix(d.api.base, "/")+"/api/v1/campaigns", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+d.api.token)
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
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...)
	body, _ := json.Marshal(map[string]any{"name": "Katalog", "channel": "sms", "numbers": []string{"+4917011112222"},
		"send": "now", "media": map[string]any{"name": "katalog.pdf", "data": pdf}})
	code, out := post(body)
	e, _ := out["error"].(map[string]any)
	if code != http.StatusUnprocessableEntity || e["field"] != "media" || !strings.Contains(e["message"].(string), "300 KB") {
		t.Fatalf("oversize PDF: %d %v", code, out)
	}

	numbers := []string{"+4917011112222", "+4917011113333", "+4917011114444"}
	body, _ = json.Marshal(map[string]any{"name": "Fotoaktion", "channel": "sms", "numbers": numbers,
		"text": "Unser Angebot", "send": "now", "media": map[string]any{"name": "angebot.jpg", "data": photo.Bytes()}})
	code, out = post(body)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, out)
	}
	id, _ := out["id"].(string)
	deadline := time.Now().Add(60 * time.Second)
	for d.api.campaignState(id) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("MMS campaign not completed: %s; log:\n%s", d.api.campaignState(id), d.p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var page struct {
		Items []struct {
			Number string `json:"number"`
			State  string `json:"state"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	d.api.do("GET", "/api/v1/campaigns/"+id+"/recipients", nil, &page)
	if len(page.Items) != 3 {
		t.Fatalf("recipients %+v", page.Items)
	}
	for _, it := range page.Items {
		if it.State != "sent" && it.State != "delivered" {
			t.Fatalf("recipient %s: %s %s", it.Number, it.State, it.Error)
		}
	}
}

// portalCampaignForm posts the campaign form as a browser does (multipart,
// the MMS file in part "media") and returns status, final URL and page.
func portalCampaignForm(t *testing.T, p *portalClient, fields map[string]string, fileName string, file []byte) (int, string, string) {
	t.Helper()
	m := csrfRE.FindSubmatch(p.get("/campaigns/new"))
	if m == nil {
		t.Fatal("no CSRF token on /campaigns/new")
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	_ = w.WriteField("csrf_token", string(m[1]))
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("media", fileName)
		_, _ = fw.Write(file)
	}
	w.Close()
	resp, err := p.c.Post(p.base+"/campaigns/new", w.FormDataContentType(), &b)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Request.URL.Path, html.UnescapeString(string(body))
}

var mediaJSONRE = regexp.MustCompile(`name="media_json" value="(\{.*?\})">`)

// The campaign form's MMS file in German and English: an oversize PDF is
// refused at the field with the reason in German; in English a photo is
// checked ("Check file": scaled, the result shown), then the campaign is
// saved with the fitted file the form kept and sends it as MMS.
func TestPortalMMSCampaignGermanAndEnglish(t *testing.T) {
	d := startOneSIM(t, "")
	p := newPortalClient(t, d.p.portal)
	p.login("admin", "a new admin password")
	page := html.UnescapeString(string(p.get("/campaigns/new")))
	if !strings.Contains(page, `id="mms-media"`) || !strings.Contains(page, "Datei (sendet die Kampagne als MMS)") {
		t.Fatalf("no MMS file field on the German form")
	}
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 400*1024)...)
	code, _, page := portalCampaignForm(t, p, map[string]string{"name": "Katalog", "sender": "sms|", "numbers": "+4917011112222", "send": "draft"}, "katalog.pdf", pdf)
	if code != http.StatusUnprocessableEntity || !strings.Contains(page, "nur Bilder lassen sich verkleinern") || !strings.Contains(page, "300 KB") {
		t.Fatalf("German refusal: %d\n%s", code, page)
	}

	p.get("/lang/en")
	img := image.NewRGBA(image.Rect(0, 0, 1000, 800))
	r := rand.New(rand.NewSource(5))
	for i := range img.Pix {
		img.Pix[i] = byte(r.Intn(256))
	}
	var photo bytes.Buffer
	_ = jpeg.Encode(&photo, img, &jpeg.Options{Quality: 95})
	form := map[string]string{"name": "Fotoaktion", "sender": "sms|", "numbers": "+4917011112222\n+4917011113333", "send": "now", "fit_media": "1"}
	code, _, page = portalCampaignForm(t, p, form, "photo.jpg", photo.Bytes())
	if code != http.StatusOK || !strings.Contains(page, "photo.jpg: the picture was made smaller to fit into 300 KB: 1000×800") {
		t.Fatalf("English check: %d\n%s", code, page)
	}
	mj := mediaJSONRE.FindStringSubmatch(page)
	if mj == nil {
		t.Fatal("the fitted file is not kept in the form")
	}
	delete(form, "fit_media")
	form["media_json"] = mj[1]
	code, path, page := portalCampaignForm(t, p, form, "", nil)
	if code != http.StatusOK || !strings.HasPrefix(path, "/campaigns/") || path == "/campaigns/new" {
		t.Fatalf("save: %d %s\n%s", code, path, page)
	}
	id := strings.TrimPrefix(path, "/campaigns/")
	deadline := time.Now().Add(60 * time.Second)
	for d.api.campaignState(id) != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s: %s", id, d.api.campaignState(id))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
