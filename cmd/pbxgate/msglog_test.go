package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

type logEntry struct {
	ID        string `json:"id"`
	Direction string `json:"direction"`
	Kind      string `json:"kind"`
	Channel   string `json:"channel"`
	Peer      string `json:"peer"`
	Local     string `json:"local"`
	Text      string `json:"text"`
	Origin    string `json:"origin"`
	OriginID  string `json:"origin_id"`
	Status    string `json:"status"`
}

// An SMS from a customer, the automatic answer to it and an SMS sent with
// `pbxgate send` all show in the message log of the running daemon
// (GET /api/v1/messages), the outbound ones with their final status.
func TestMessageLogRecordsInboundAnswerAndCLISend(t *testing.T) {
	t.Parallel()
	d := startOneSIM(t, "")
	p, dataDir, api := d.p, d.dataDir, d.api

	const customer, other = "+4917099887766", "+4917012340000"
	injectSMS(t, p, onlySimIMEI(t, p), customer, "STOP")
	if out, stderr, code := runPbxgate(t, "", "send", "--data", dataDir, "--wait", "20s", "sms", other, "Ihr Paket ist da"); code != 0 {
		t.Fatalf("pbxgate send: %d %s %s", code, out, stderr)
	}

	// Wait until the answer is out and the CLI message delivered.
	var in, reply, cli logEntry
	deadline := time.Now().Add(30 * time.Second)
	for {
		var page struct {
			Items      []logEntry `json:"items"`
			NextCursor string     `json:"next_cursor"`
		}
		api.do("GET", "/api/v1/messages", nil, &page)
		in, reply, cli = logEntry{}, logEntry{}, logEntry{}
		for _, e := range page.Items {
			switch {
			case e.Direction == "in" && e.Peer == customer:
				in = e
			case e.Direction == "out" && e.Origin == "reply":
				reply = e
			case e.Direction == "out" && e.Origin == "cli":
				cli = e
			}
		}
		if in.ID != "" && reply.Status == "sent" && cli.Status == "delivered" {
			if len(page.Items) != 3 || page.NextCursor != "" {
				t.Fatalf("log has %d entries (next %q), want 3: %+v", len(page.Items), page.NextCursor, page.Items)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("message log after 30 s: in %+v\nreply %+v\ncli %+v\nall %+v\nlog:\n%s", in, reply, cli, page.Items, p.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if in.Kind != "sms" || in.Channel != "sms" || in.Text != "STOP" || in.Status != "received" {
		t.Errorf("inbound entry: %+v", in)
	}
	if reply.Peer != customer || reply.OriginID != in.ID || !strings.Contains(reply.Text, "START") || reply.Local == "" {
		t.Errorf("answer entry: %+v (inbound %s)", reply, in.ID)
	}
	if cli.Peer != other || cli.Text != "Ihr Paket ist da" || cli.Channel != "sms" || cli.Local == "" {
		t.Errorf("CLI entry: %+v", cli)
	}

	// Searchable, and one message by its ID.
	var found struct {
		Items []logEntry `json:"items"`
	}
	api.do("GET", "/api/v1/messages?dir=out&q="+url.QueryEscape("paket"), nil, &found)
	if len(found.Items) != 1 || found.Items[0].ID != cli.ID {
		t.Errorf("search for the CLI text: %+v", found.Items)
	}
	var one logEntry
	api.do("GET", "/api/v1/messages/"+url.PathEscape(reply.ID), nil, &one)
	if one != reply {
		t.Errorf("GET by id: %+v, want %+v", one, reply)
	}
	p.stop(t)
}
