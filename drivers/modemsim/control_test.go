package modemsim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/warthog618/modem/at"
)

func doJSON(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			t.Fatalf("%s %s: %v in %q", method, url, err, buf.String())
		}
	}
	return res.StatusCode
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	m := addModem(t, n, Config{Model: "EC25", StorageCapacity: 5})
	addModem(t, n, Config{Model: "SIM800"})
	srv := httptest.NewServer(n.Handler())
	defer srv.Close()
	base := srv.URL + "/modems"

	var list []Status
	if code := doJSON(t, "GET", base, "", &list); code != 200 || len(list) != 2 {
		t.Fatalf("GET /modems = %d %+v", code, list)
	}
	if list[0].IMEI != m.IMEI() || list[0].Path != m.Path() || list[0].Number != m.Number() ||
		list[0].State != StateOnline || list[0].Storage["SM"] != (MemoryUse{0, 5}) {
		t.Fatalf("status %+v", list[0])
	}

	mb := base + "/" + m.IMEI()
	var e map[string]string
	if code := doJSON(t, "POST", mb+"/inject", `{"from":"+4917","text":"Hi","parts":2,"order":[1,0]}`, &e); code != http.StatusAccepted {
		t.Fatalf("inject = %d %v", code, e)
	}
	waitFor(t, "two parts stored", func() bool { return m.Status().Storage["SM"].Used == 2 })
	var stored []StoredSMS
	if code := doJSON(t, "GET", mb+"/stored", "", &stored); code != 200 || len(stored) != 2 ||
		stored[0].Seq != 2 || stored[1].Seq != 1 || stored[0].Text+stored[1].Text != "iH" {
		t.Fatalf("GET stored = %d %+v", code, stored)
	}
	if code := doJSON(t, "POST", mb+"/inject", `{"from":"+4917","txt":"typo"}`, &e); code != http.StatusBadRequest || !strings.Contains(e["error"], "txt") {
		t.Fatalf("unknown field = %d %v", code, e)
	}
	if code := doJSON(t, "POST", mb+"/inject", `{"from":"+4917","text":"ab","parts":5}`, &e); code != http.StatusUnprocessableEntity {
		t.Fatalf("unsplittable = %d %v", code, e)
	}
	if code := doJSON(t, "GET", base+"/000/sent", "", &e); code != http.StatusNotFound || !strings.Contains(e["error"], "000") {
		t.Fatalf("unknown IMEI = %d %v", code, e)
	}

	var f Fault
	if code := doJSON(t, "PUT", mb+"/fault", `{"cms_errors":{"38":1},"deregistered":false}`, &f); code != 200 || f.CMSErrors[38] != 1 {
		t.Fatalf("PUT fault = %d %+v", code, f)
	}
	if code := doJSON(t, "PUT", mb+"/fault", `{"cms_errors":{"38":1.5}}`, &e); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad probability = %d %v", code, e)
	}
	if code := doJSON(t, "PUT", mb+"/fault", `{"hang":true,"hang_mode":"forever"}`, &e); code != http.StatusUnprocessableEntity {
		t.Fatalf("bad hang mode = %d %v", code, e)
	}

	a, _ := openAT(t, m.Path())
	initAT(t, a)
	mustCmd(t, a, "+CMGF=0")
	pdu := submitPDUs(t, "+491234", "über", 1, false)[0]
	if _, err := sendPDU(a, pdu); err != at.CMSError("38") {
		t.Fatalf("send with fault via API: %v", err)
	}
	doJSON(t, "PUT", mb+"/fault", `{}`, &f)
	if _, err := sendPDU(a, pdu); err != nil {
		t.Fatal(err)
	}
	var sent []SentSMS
	if code := doJSON(t, "GET", mb+"/sent", "", &sent); code != 200 || len(sent) != 1 || sent[0].Text != "über" || sent[0].To != "+491234" {
		t.Fatalf("GET sent = %d %+v", code, sent)
	}

	boots := m.Boots()
	if code := doJSON(t, "POST", mb+"/reboot", `{"down":"20ms"}`, &e); code != http.StatusAccepted {
		t.Fatalf("reboot = %d %v", code, e)
	}
	if p := waitBoot(t, m, boots); p != m.Path() {
		t.Fatalf("WaitBoot %q, Path %q", p, m.Path())
	}
	if code := doJSON(t, "POST", mb+"/reboot", `{"down":"soon"}`, &e); code != http.StatusBadRequest {
		t.Fatalf("bad duration = %d", code)
	}
	// A silent reset keeps the port (and its path) but counts as a boot.
	path, boots := m.Path(), m.Boots()
	var rr map[string]any
	if code := doJSON(t, "POST", mb+"/reset", `{"announce":true}`, &rr); code != http.StatusAccepted || rr["announce"] != true {
		t.Fatalf("reset = %d %v", code, rr)
	}
	for deadline := time.Now().Add(5 * time.Second); m.Boots() == boots; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("reset did not happen")
		}
	}
	if m.Path() != path {
		t.Fatalf("silent reset moved the port %q → %q", path, m.Path())
	}

	// hot-plug and unplug
	var st Status
	if code := doJSON(t, "POST", base, `{"model":"E3372","number":"+4915200000001","send_latency":"5ms"}`, &st); code != http.StatusCreated || st.Model != "E3372" || st.Path == "" {
		t.Fatalf("POST /modems = %d %+v", code, st)
	}
	if code := doJSON(t, "POST", base, `{"number":"+4915200000001"}`, &e); code != http.StatusConflict {
		t.Fatalf("duplicate number = %d %v", code, e)
	}
	if code := doJSON(t, "POST", base, `{"send_latency":"fast"}`, &e); code != http.StatusUnprocessableEntity || !strings.Contains(e["error"], "send_latency") {
		t.Fatalf("bad latency = %d %v", code, e)
	}
	if code := doJSON(t, "DELETE", base+"/"+st.IMEI, "", nil); code != http.StatusNoContent {
		t.Fatalf("DELETE = %d", code)
	}
	if n.ModemByIMEI(st.IMEI) != nil || len(n.Modems()) != 2 {
		t.Fatalf("unplugged modem still listed: %d modems", len(n.Modems()))
	}
}

func TestAddModemRejectsBadConfig(t *testing.T) {
	t.Parallel()
	n := newNet(t)
	first := addModem(t, n, Config{Number: "+4915199999999"})
	for _, cfg := range []Config{
		{Model: "NOKIA3310"},
		{Number: "+49 151 x"},
		{IMSI: "262"},
		{PIN: "12"},
		{RSSI: 40},
		{StorageCapacity: 300},
		{Number: "4915199999999"},
		{IMEI: first.IMEI()},
	} {
		if m, err := n.AddModem(t.Context(), cfg); err == nil {
			m.Close()
			t.Errorf("%+v accepted", cfg)
		}
	}
	if len(n.Modems()) != 1 {
		t.Fatalf("%d modems after rejected configs, want 1", len(n.Modems()))
	}
}
