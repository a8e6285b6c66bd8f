package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCampaignResumesAfterCleanStop stops a real pbxgate with SIGTERM in the
// middle of a campaign sent through simulated modems (a process of their
// own, so what they sent outlives the daemon), with campaigns.auto_resume
// off, and starts it again on the same data: the campaign goes on by itself
// (nobody resumes it), completes, and on the wire every number was sent
// exactly once; no recipient ends unknown.
func TestCampaignResumesAfterCleanStop(t *testing.T) {
	t.Parallel()
	const n = 300
	rig := startCampaignRig(t, false)
	sim, cfgPath, p, api := rig.sim, rig.cfgPath, rig.p, rig.api
	created, numbers := rig.campaign("clean restart", "+4915902", n, "Ihr Termin ist morgen")

	// SIGTERM once the modems have sent a part of it.
	deadline := time.Now().Add(20 * time.Second)
	for len(sim.sentCounts(t)) < n/10 {
		if time.Now().After(deadline) {
			t.Fatalf("the modems sent only %d messages in 20 s; campaign %s", len(sim.sentCounts(t)), api.campaignState(created.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s := api.campaignState(created.ID); s != "running" {
		t.Fatalf("campaign is %s before the stop", s)
	}
	before := map[string]int{}
	for _, st := range recipientStates(t, api, created.ID) {
		before[st]++
	}
	// "sending": handed to the modem pool's queue, not yet reported sent.
	t.Logf("recipient states just before SIGTERM: %v", before)
	p.stop(t)
	atStop := len(sim.sentCounts(t))
	if atStop >= n {
		t.Fatalf("all %d messages went out before the daemon stopped; the test needs a slower campaign to mean anything", n)
	}
	if !strings.Contains(p.log(), "campaigns stopped cleanly; they resume at the next start") {
		t.Errorf("the stop did not record the running campaign; log:\n%s", p.log())
	}
	t.Logf("%d of %d sent when SIGTERM stopped the daemon", atStop, n)

	p = startDaemon(t, cfgPath)
	api.base = p.portal
	deadline = time.Now().Add(60 * time.Second)
	for {
		s := api.campaignState(created.ID)
		if s == "completed" {
			break
		}
		if s != "running" || time.Now().After(deadline) {
			t.Fatalf("campaign is %s after the restart (%d of %d sent); log:\n%s", s, len(sim.sentCounts(t)), n, p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(p.log(), "campaign was sending when pbxgate stopped cleanly; it resumes") {
		t.Errorf("the second start did not log the resume; log:\n%s", p.log())
	}

	status := recipientStates(t, api, created.ID)
	if len(status) != n {
		t.Fatalf("campaign lists %d recipients, want %d", len(status), n)
	}
	sent := sim.sentCounts(t)
	finals := map[string]int{}
	for _, num := range numbers {
		finals[status[num]]++
		if st := status[num]; st != "sent" && st != "delivered" {
			t.Errorf("%s ended %q", num, st)
		}
		if c := sent[num]; c != 1 {
			t.Errorf("the modems sent %s %d times", num, c)
		}
	}
	if len(sent) != n {
		t.Errorf("the modems sent to %d numbers, want %d", len(sent), n)
	}
	t.Logf("final states %v", finals)
	p.stop(t)
}

// recipientStates pages through a campaign's recipients: number -> state.
func recipientStates(t *testing.T, api *apiClient, id string) map[string]string {
	t.Helper()
	status := map[string]string{}
	for offset := 0; ; offset += 200 {
		var page struct {
			Items []struct {
				Number string `json:"number"`
				Status string `json:"state"`
			} `json:"items"`
			Total int `json:"total"`
		}
		api.do("GET", fmt.Sprintf("/api/v1/campaigns/%s/recipients?offset=%d&limit=200", id, offset), nil, &page)
		for _, it := range page.Items {
			if _, dup := status[it.Number]; dup {
				t.Errorf("recipient %s listed twice", it.Number)
			}
			status[it.Number] = it.Status
		}
		if offset+200 >= page.Total {
			break
		}
	}
	return status
}
