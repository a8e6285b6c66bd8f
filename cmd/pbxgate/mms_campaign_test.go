package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"math/rand"
	"net/http"
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
