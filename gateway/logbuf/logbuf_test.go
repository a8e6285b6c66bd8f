package logbuf

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

type secret string

func (secret) LogValue() slog.Value { return slog.StringValue("***") }

func TestRecordsPassOnAndKeepTheNewest(t *testing.T) {
	var out bytes.Buffer
	ring := New(3)
	log := slog.New(ring.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Debug("not enabled")
	log.Info("one")
	log.With("component", "campaign").WithGroup("req").Info("two", "id", "c 1", slog.Group("g", "n", 2))
	log.Warn("three", "token", secret("hunter2"))
	log.Error("four", "err", errors.New("modem gone"))

	got := ring.Records(Query{})
	if len(got) != 3 {
		t.Fatalf("%d records kept, want the last 3: %+v", len(got), got)
	}
	if got[0].Msg != "four" || got[1].Msg != "three" || got[2].Msg != "two" {
		t.Fatalf("order: %q %q %q, want newest first", got[0].Msg, got[1].Msg, got[2].Msg)
	}
	if got[2].Attrs != `component=campaign req.id="c 1" req.g.n=2` {
		t.Fatalf("attrs %q", got[2].Attrs)
	}
	if got[1].Attrs != "token=***" || strings.Contains(out.String(), "hunter2") {
		t.Fatalf("secret not masked: %q / %s", got[1].Attrs, out.String())
	}
	if got[0].Seq != 4 || got[0].Level != slog.LevelError {
		t.Fatalf("newest %+v", got[0])
	}
	for _, want := range []string{"msg=one", "msg=two", "msg=four"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("wrapped handler did not get %s:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "not enabled") {
		t.Fatal("debug record passed an info handler")
	}

	if w := ring.Records(Query{MinLevel: slog.LevelWarn}); len(w) != 2 {
		t.Fatalf("warn and above: %+v", w)
	}
	if m := ring.Records(Query{Contains: "MODEM"}); len(m) != 1 || m[0].Msg != "four" {
		t.Fatalf("search in attributes, case-insensitive: %+v", m)
	}
	if l := ring.Records(Query{Limit: 1}); len(l) != 1 || l[0].Msg != "four" {
		t.Fatalf("limit: %+v", l)
	}
}

func TestConcurrentLogging(t *testing.T) {
	ring := New(100)
	log := slog.New(ring.Handler(slog.NewJSONHandler(io.Discard, nil)))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				log.Info("msg", "g", g, "i", i)
				_ = ring.Records(Query{Limit: 5})
			}
		})
	}
	wg.Wait()
	got := ring.Records(Query{})
	if len(got) != 100 || got[0].Seq != 1600 {
		t.Fatalf("kept %d, newest seq %d; want 100 and 1600", len(got), got[0].Seq)
	}
	for i := 1; i < len(got); i++ {
		if got[i].Seq != got[i-1].Seq-1 {
			t.Fatalf("gap at %d: %d after %d", i, got[i].Seq, got[i-1].Seq)
		}
	}
}
