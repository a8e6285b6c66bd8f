package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/pbxgate/pbxgate/gateway/clusterwork"
	"github.com/pbxgate/pbxgate/gateway/testkit"
	"github.com/pbxgate/pbxgate/web/browsertest"
)

// twoBoxes starts two clustered daemons on loopback routes, each with its
// own data directory and simulated modems (slow enough that a campaign is
// still running when the test stops it) on an SMS channel named "sms"
// (portals on 127.0.0.1 and 127.0.0.2),
// and returns them with an admin API client each.
func twoBoxes(t *testing.T) ([]*proc, []*apiClient) {
	t.Helper()
	work := t.TempDir()
	ports := []string{
		net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1"))),
		net.JoinHostPort("127.0.0.1", strconv.Itoa(testkit.FreePort(t, "127.0.0.1"))),
	}
	t.Setenv("PBXGATE_CLUSTER_PASSWORD", "a-route-secret-of-32-characters!")
	procs := make([]*proc, 2)
	apis := make([]*apiClient, 2)
	dirs := make([]string, 2)
	// The portals on two loopback addresses: a browser keeps one session
	// cookie per host, not per port.
	httpHosts := []string{"127.0.0.1", "127.0.0.2"}
	for i := range procs {
		name := fmt.Sprintf("box%d", i+1)
		dataDir := filepath.Join(work, "data"+strconv.Itoa(i+1))
		cfg := fmt.Sprintf(`data_dir: %s
log: {format: json}
http: {listen: "%s:0"}
modems: {discover: false, simulate: 2}
sms_channels: [{name: sms, modems: [sim1, sim2]}]
shutdown_timeout: 5s
cluster:
  name: site
  node: %s
  listen: %q
  peers: [%q]
  user: pbxgate
`, dataDir, httpHosts[i], name, ports[i], ports[1-i])
		path := filepath.Join(work, name+".yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		procs[i] = startDaemon(t, path, "--demo")
		dirs[i] = dataDir
	}
	for i, p := range procs {
		testkit.Eventually(t, fmt.Sprintf("box%d sees the cluster", i+1), func() bool {
			rep, code := clusterStatus(t, dirs[i])
			return code == 0 && rep.Status != nil && rep.Status.Complete() && rep.Status.Leader != ""
		})
		completeSetup(t, p)
		out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", dirs[i])
		if code != 0 {
			t.Fatal(stderr)
		}
		apis[i] = &apiClient{t: t, base: p.portal, token: strings.TrimSpace(out)}
	}
	return procs, apis
}

// call is one API request; it returns the status and the body.
func (a *apiClient) call(method, path string, body string) (int, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(method, strings.TrimSuffix(a.base, "/")+path, bytes.NewReader([]byte(body)))
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

type sharedList struct {
	Items   []clusterwork.Progress `json:"items"`
	Partial bool                   `json:"partial"`
}

func sharedOn(a *apiClient, id string) (clusterwork.Progress, bool) {
	var l sharedList
	a.do("GET", "/api/v1/cluster/campaigns", nil, &l)
	for _, p := range l.Items {
		if p.ID == id {
			return p, !l.Partial
		}
	}
	return clusterwork.Progress{}, false
}

func phoneNumbers(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("+4917%08d", 20000000+i)
	}
	return out
}

// TestClusterCampaignsAPI: a shared campaign created through box1's REST
// API (openapi.json: /cluster/campaigns) is listed on box2 with the same
// counts, stopped through box2 (box1 sees it stopped), resumed and
// deleted; bad input is refused naming the field and stores nothing; the
// members and the leader are the same on both boxes.
func TestClusterCampaignsAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("two clustered daemons")
	}
	_, apis := twoBoxes(t)
	a, b := apis[0], apis[1]

	var st1, st2 struct {
		Healthy bool `json:"healthy"`
		Status  struct {
			Node, Leader string
			Members      []struct{ Name string }
		} `json:"status"`
	}
	a.do("GET", "/api/v1/cluster", nil, &st1)
	b.do("GET", "/api/v1/cluster", nil, &st2)
	if !st1.Healthy || st1.Status.Node != "box1" || st2.Status.Node != "box2" || st1.Status.Leader == "" || len(st1.Status.Members) != 2 {
		t.Errorf("cluster on box1 %+v, box2 %+v", st1, st2)
	}

	// Refused: the problems are named, nothing is stored.
	for _, tc := range []struct{ body, field string }{
		{`{"name":"x","channel":"nope","text":"t","numbers":["+4917012345678"]}`, "channel"},
		{`{"name":"","channel":"sms","text":"t","numbers":["+4917012345678"]}`, "name"},
		{`{"name":"x","channel":"sms","text":" ","numbers":["+4917012345678"]}`, "text"},
		{`{"name":"x","channel":"sms","text":"t","numbers":["0815"]}`, "numbers"},
	} {
		code, body := a.call("POST", "/api/v1/cluster/campaigns", tc.body)
		var e struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		if code != http.StatusUnprocessableEntity || e.Error.Field != tc.field || e.Error.Message == "" {
			t.Errorf("%s: %d %s; want 422 naming %s", tc.body, code, body, tc.field)
		}
	}
	var l sharedList
	b.do("GET", "/api/v1/cluster/campaigns", nil, &l)
	if len(l.Items) != 0 {
		t.Fatalf("refused campaigns were stored: %+v", l.Items)
	}

	nums := phoneNumbers(400)
	req, _ := json.Marshal(map[string]any{"name": "Herbst", "channel": "sms", "text": "Hallo", "numbers": nums})
	var c clusterwork.Campaign
	code, body := a.call("POST", "/api/v1/cluster/campaigns", string(req))
	if code != http.StatusCreated || json.Unmarshal(body, &c) != nil || c.Recipients != len(nums) || c.CreatedBy != "box1" {
		t.Fatalf("create: %d %s", code, body)
	}
	testkit.Eventually(t, "box2 lists it, sending", func() bool {
		p, ok := sharedOn(b, c.ID)
		return ok && p.Counts.Sent+p.Counts.Delivered > 0
	})
	var stopped clusterwork.Campaign
	b.do("POST", "/api/v1/cluster/campaigns/"+c.ID+"/stop", nil, &stopped)
	if stopped.State != clusterwork.Stopped || stopped.UpdatedBy != "box2" {
		t.Fatalf("stop on box2: %+v", stopped)
	}
	// Stopped on both; once the modems' last messages are through, both
	// boxes report the same counts, with recipients still waiting.
	var p1, p2 clusterwork.Progress
	testkit.Eventually(t, "the same counts on both boxes after Stop", func() bool {
		var ok1, ok2 bool
		p1, ok1 = sharedOn(a, c.ID)
		p2, ok2 = sharedOn(b, c.ID)
		return ok1 && ok2 && p1.State == clusterwork.Stopped && p1.Counts.Sending == 0 && p1.Counts == p2.Counts
	})
	if p1.Counts.Waiting == 0 || p1.Counts.Final()+p1.Counts.Waiting != len(nums) {
		t.Errorf("after Stop: %+v; want recipients waiting and every recipient counted", p1.Counts)
	}
	time.Sleep(2 * time.Second)
	// (Delivery reports may still turn sent into delivered.)
	if p, _ := sharedOn(a, c.ID); p.Counts.Waiting != p1.Counts.Waiting || p.Counts.Final() != p1.Counts.Final() {
		t.Errorf("still sending after Stop: %+v then %+v", p1.Counts, p.Counts)
	}
	var detail clusterwork.Progress
	a.do("GET", "/api/v1/cluster/campaigns/"+c.ID+"?detail=1", nil, &detail)
	if len(detail.Claims) != p1.Counts.Final() {
		t.Errorf("detail has %d claims, counts %+v", len(detail.Claims), p1.Counts)
	}
	if code, body := b.call("POST", "/api/v1/cluster/campaigns/nosuch/stop", ""); code != http.StatusNotFound {
		t.Errorf("stop of an unknown campaign: %d %s", code, body)
	}
	var resumed clusterwork.Campaign
	a.do("POST", "/api/v1/cluster/campaigns/"+c.ID+"/resume", nil, &resumed)
	if resumed.State != clusterwork.Running {
		t.Errorf("resume: %+v", resumed)
	}
	if code, body := b.call("DELETE", "/api/v1/cluster/campaigns/"+c.ID, ""); code != http.StatusNoContent {
		t.Fatalf("delete on box2: %d %s", code, body)
	}
	testkit.Eventually(t, "deleted on box1", func() bool {
		var l sharedList
		a.do("GET", "/api/v1/cluster/campaigns", nil, &l)
		return len(l.Items) == 0
	})
}

// TestOneBoxShowsNoCluster: a box without a cluster section answers the
// cluster API with 404 and shows no cluster on its System page.
func TestOneBoxShowsNoCluster(t *testing.T) {
	work := t.TempDir()
	cfg := filepath.Join(work, "pbxgate.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: "+filepath.Join(work, "data")+"\nlog: {format: json}\nhttp: {listen: \"127.0.0.1:0\"}\nmodems: {discover: false}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startDaemon(t, cfg)
	completeSetup(t, p)
	out, stderr, code := runPbxgate(t, "", "user", "token", "admin", "--data", filepath.Join(work, "data"))
	if code != 0 {
		t.Fatal(stderr)
	}
	a := &apiClient{t: t, base: p.portal, token: strings.TrimSpace(out)}
	for _, path := range []string{"/api/v1/cluster", "/api/v1/cluster/campaigns"} {
		if code, body := a.call("GET", path, ""); code != http.StatusNotFound || !strings.Contains(string(body), "no_cluster") {
			t.Errorf("GET %s on one box: %d %s", path, code, body)
		}
	}
	// The portal: no cluster section on the System page, no link on the
	// campaigns page, and the cluster campaigns page is not there.
	pc := newPortalClient(t, p.portal)
	pc.login("admin", "a new admin password")
	for _, path := range []string{"/system", "/campaigns"} {
		if page := string(pc.get(path)); strings.Contains(page, `id="cluster-`) || !strings.Contains(page, "admin") {
			t.Errorf("%s on one box shows the cluster (or is not the page)", path)
		}
	}
	resp, err := pc.c.Get(pc.base + "/cluster/campaigns")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/cluster/campaigns on one box: %s", resp.Status)
	}
}

// TestClusterCampaignsInBrowser: in Chromium, the admin creates a shared
// campaign on box1's "Cluster-Kampagnen" page (reached from the campaigns
// page), sees it on box2's page with the same counts, stops it there and
// deletes it (confirmed); box2's System page shows both members and the
// leader. Screenshots in German and English at 1366 and 390 px.
func TestClusterCampaignsInBrowser(t *testing.T) {
	if _, err := os.Stat(browsertest.ChromiumPath); err != nil {
		t.Skipf("SKIP: %s not found; install Debian's chromium to run the browser test", browsertest.ChromiumPath)
	}
	procs, apis := twoBoxes(t)
	baseA, baseB := strings.TrimSuffix(procs[0].portal, "/"), strings.TrimSuffix(procs[1].portal, "/")

	br := browsertest.Start(t, filepath.Join("testdata", "artifacts"), "cluster-", 360*time.Second)
	br.Context = func() string { return "box1 log:\n" + procs[0].log() + "\nbox2 log:\n" + procs[1].log() }
	run, shot, fail, text := br.Run, br.Shot, br.Fail, br.Text
	click, typeIn := browsertest.Click, browsertest.TypeIn
	var mu sync.Mutex
	var asked []string
	dialogs := chromedp.Events(br.Ctx, page.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			mu.Lock()
			asked = append(asked, ev.Message)
			mu.Unlock()
			_, _ = chromedp.Call(br.Ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	login := func(base string) {
		run("login "+base,
			chromedp.Navigate(base+"/login"),
			chromedp.WaitVisible(chromedp.CSS("#login-form")),
			typeIn("#username", "admin"),
			typeIn("#password", "a new admin password"),
			click("#login-submit"),
			chromedp.WaitVisible(chromedp.CSS("#live")),
			chromedp.Navigate(base+"/lang/de"),
			chromedp.WaitVisible(chromedp.CSS("#live")),
		)
	}
	login(baseA)
	run("box1: campaigns page links the cluster campaigns",
		chromedp.EmulateViewport(1366, 900),
		chromedp.Navigate(baseA+"/campaigns"),
		click("#cluster-campaigns-link"),
		chromedp.WaitVisible(chromedp.CSS("#cluster-form")),
	)
	var nums []string
	for i := range 300 {
		nums = append(nums, fmt.Sprintf("+4917%08d", 30000000+i))
	}
	run("box1: the form, a bad number first",
		typeIn("#cname", "Winteraktion"),
		typeIn("#numbers", "0815\n"+strings.Join(nums[:3], "\n")),
		typeIn("#ctext", "Hallo aus dem Cluster"),
		click("#cluster-create"),
		chromedp.WaitVisible(chromedp.CSS("#cluster-form p.err")),
		shot("01-form-error-de-1366"),
	)
	if s := text("#cluster-form"); !strings.Contains(s, "0815") {
		fail("bad number named", fmt.Errorf("form says %q", s))
	}
	var l sharedList
	apis[1].do("GET", "/api/v1/cluster/campaigns", nil, &l)
	if len(l.Items) != 0 {
		fail("nothing stored", fmt.Errorf("%+v", l.Items))
	}
	run("box1: create",
		chromedp.SetValue(chromedp.CSS("#numbers"), strings.Join(nums, "\n")),
		click("#cluster-create"),
		chromedp.WaitVisible(chromedp.CSS("#cluster-campaigns")),
		shot("02-created-de-1366"),
	)
	apis[0].do("GET", "/api/v1/cluster/campaigns", nil, &l)
	if len(l.Items) != 1 || l.Items[0].Name != "Winteraktion" || l.Items[0].Recipients != len(nums) {
		fail("created", fmt.Errorf("%+v", l.Items))
	}
	id := l.Items[0].ID

	login(baseB)
	// box2 lists what its watch of the campaign bucket delivered: at once
	// normally, within two resync checks (clusterwork.Config.Resync, 15 s)
	// if that watch stalled. The page is loaded again until the row is
	// there, so a late watch shows as such and not as a browser timeout.
	for end := time.Now().Add(60 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		run("box2: the list", chromedp.Navigate(baseB+"/cluster/campaigns"), chromedp.WaitVisible(chromedp.CSS("#cluster-form")))
		rows, err := chromedp.Run(br.Ctx, chromedp.Evaluate[int](`document.querySelectorAll("#cluster-campaign-`+id+`").length`))
		if err != nil {
			fail("box2: the list's rows", err)
		}
		if rows > 0 {
			break
		}
		if time.Now().After(end) {
			var l2 sharedList
			apis[1].do("GET", "/api/v1/cluster/campaigns", nil, &l2)
			fail("box2 lists box1's campaign", fmt.Errorf("not on box2's page after 60 s; box2's API lists %+v", l2.Items))
		}
	}
	if s := text("#cluster-campaign-" + id); !strings.Contains(s, "Winteraktion") || !strings.Contains(s, "läuft") || !strings.Contains(s, "box1") {
		fail("box2 lists box1's campaign", fmt.Errorf("row %q", s))
	}
	run("box2: stop", click("#cluster-stop-"+id), chromedp.WaitVisible(chromedp.CSS("#cluster-resume-"+id)))
	if s := text("#cluster-campaign-" + id); !strings.Contains(s, "gestoppt") {
		fail("stopped on box2", fmt.Errorf("row %q", s))
	}
	// The counts settle once the modems' last messages are through; then
	// both boxes' pages show the same.
	row := func(base string) string {
		run("row "+base, chromedp.Navigate(base+"/cluster/campaigns"), chromedp.WaitVisible(chromedp.CSS("#cluster-campaign-"+id)))
		return text("#cluster-campaign-" + id)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		b1, b2 := row(baseA), row(baseB)
		if b1 == b2 && strings.Contains(b1, "gestoppt") {
			break
		}
		if time.Now().After(deadline) {
			fail("same counts on both boxes", fmt.Errorf("box1 %q, box2 %q", b1, b2))
		}
		time.Sleep(time.Second)
	}
	run("box2 de 1366", shot("03-stopped-box2-de-1366"))
	run("box2 de 390", chromedp.EmulateViewport(390, 844), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#cluster-campaign-"+id)), shot("04-stopped-box2-de-390"))
	run("box2 en 390",
		chromedp.Navigate(baseB+"/lang/en"), chromedp.Navigate(baseB+"/cluster/campaigns"),
		chromedp.WaitVisible(chromedp.CSS("#cluster-campaign-"+id)), shot("05-stopped-box2-en-390"))
	if s := text("#cluster-campaign-" + id); !strings.Contains(s, "stopped") {
		fail("English state", fmt.Errorf("row %q", s))
	}
	run("box2 en 1366", chromedp.EmulateViewport(1366, 900), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#cluster-campaign-"+id)), shot("06-stopped-box2-en-1366"))

	// The System page: both members, the leader.
	run("system en", chromedp.Navigate(baseB+"/system"), chromedp.WaitVisible(chromedp.CSS("#cluster-members")), shot("07-system-en-1366"))
	if s := text("#cluster-members"); !strings.Contains(s, "box1") || !strings.Contains(s, "box2") || !strings.Contains(s, "leader") || !strings.Contains(s, "this box") {
		fail("system page members", fmt.Errorf("%q", s))
	}
	if s := text("main"); !strings.Contains(s, "Cluster campaign stopped") {
		fail("audit log names the stop", fmt.Errorf("%q", s))
	}
	run("system de 390", chromedp.Navigate(baseB+"/lang/de"), chromedp.EmulateViewport(390, 844), chromedp.Navigate(baseB+"/system"),
		chromedp.WaitVisible(chromedp.CSS("#cluster-members")), shot("08-system-de-390"))
	if s := text("#cluster-members"); !strings.Contains(s, "diese Box") || !strings.Contains(s, "verbunden") {
		fail("system page in German", fmt.Errorf("%q", s))
	}

	// Delete, confirmed in the dialog, on box2; gone on box1.
	run("delete", chromedp.EmulateViewport(1366, 900), chromedp.Navigate(baseB+"/cluster/campaigns"),
		click("#cluster-delete-"+id), chromedp.WaitVisible(chromedp.CSS("#cluster-none")))
	mu.Lock()
	q := strings.Join(asked, " | ")
	mu.Unlock()
	if !strings.Contains(q, "Winteraktion") {
		fail("delete asked", fmt.Errorf("dialogs %q", q))
	}
	run("gone on box1", chromedp.Navigate(baseA+"/cluster/campaigns"), chromedp.WaitVisible(chromedp.CSS("#cluster-none")))
}
