package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

func TestFlagsRejectBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"-n", "0"},
		{"-model", "EC25,NOKIA"},
		{"-capacity", "0"},
		{"-latency", "soon"},
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

func TestRunServesModemsAndAPI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	links := t.TempDir()
	go func() {
		done <- run(ctx, []string{"-n", "2", "-model", "SIM800,E3372", "-listen", "127.0.0.1:0", "-seed", "1", "-link-dir", links}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	api := ""
	for api == "" && sc.Scan() {
		l := sc.Text()
		lines = append(lines, l)
		if u, ok := strings.CutPrefix(l, "control API: "); ok {
			api = u
		}
	}
	go io.Copy(io.Discard, pr)
	if api == "" || len(lines) != 3 || !strings.Contains(lines[0], "/dev/pts/") || !strings.Contains(lines[1], "model E3372 link "+links+"/modem1") {
		t.Fatalf("output %q", lines)
	}
	res, err := http.Get(api)
	if err != nil {
		t.Fatal(err)
	}
	var list []modemsim.Status
	err = json.NewDecoder(res.Body).Decode(&list)
	res.Body.Close()
	if err != nil || len(list) != 2 || list[0].Model != "SIM800" {
		t.Fatalf("GET /modems: %v %+v", err, list)
	}
	if target, err := os.Readlink(links + "/modem0"); err != nil || target != list[0].Path {
		t.Fatalf("link modem0 -> %q (%v), want %q", target, err, list[0].Path)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop")
	}
}
