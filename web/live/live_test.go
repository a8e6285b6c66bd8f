package live

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func readEvent(t *testing.T, r *bufio.Reader) (name, data string) {
	t.Helper()
	name, data, err := ReadEvent(r)
	if err != nil {
		t.Fatalf("stream ended: %v", err)
	}
	return name, data
}

func open(t *testing.T, url string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// changes is a change feed like campaign.Engine.Changes.
type changes struct {
	mu sync.Mutex
	ch chan struct{}
}

func newChanges() *changes { return &changes{ch: make(chan struct{})} }

func (c *changes) Changes() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

func (c *changes) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.ch)
	c.ch = make(chan struct{})
}

func TestEventEncodesMultilineHTML(t *testing.T) {
	t.Parallel()
	got := string(Event("update", "<dl>\r\n<dt>a</dt>\n\n<dd>b</dd>"))
	want := "event: update\ndata: <dl>\ndata: <dt>a</dt>\ndata: \ndata: <dd>b</dd>\n\n"
	if got != want {
		t.Fatalf("event\n%q\nwant\n%q", got, want)
	}
	_, data := readEvent(t, bufio.NewReader(strings.NewReader(got)))
	if data != "<dl>\n<dt>a</dt>\n\n<dd>b</dd>" {
		t.Fatalf("decoded %q", data)
	}
}

// TestStreamPushesChanges: the fragment comes at once and again after
// every change, over real HTTP on loopback.
func TestStreamPushesChanges(t *testing.T) {
	t.Parallel()
	feed := newChanges()
	var n atomic.Int32
	s := New(Limits{Streams: 4, MinGap: time.Millisecond, Every: time.Hour}, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = s.Serve(r.Context(), w, View{Changes: feed.Changes, Render: func(context.Context) (string, error) {
			return fmt.Sprintf("<p>render %d</p>", n.Add(1)), nil
		}})
	}))
	t.Cleanup(srv.Close)
	resp, r := open(t, srv.URL)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	if name, data := readEvent(t, r); name != "update" || data != "<p>render 1</p>" {
		t.Fatalf("first event %q %q", name, data)
	}
	for i := 2; i <= 3; i++ {
		feed.fire()
		if _, data := readEvent(t, r); data != fmt.Sprintf("<p>render %d</p>", i) {
			t.Fatalf("after change %d: %q", i-1, data)
		}
	}
}

// TestStreamsAreBounded: over the bound a stream is refused (ErrBusy,
// nothing written); a closed stream frees its slot; closing stop ends
// every stream.
func TestStreamsAreBounded(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	s := New(Limits{Streams: 2, MinGap: time.Millisecond, Every: time.Hour}, stop)
	var busy atomic.Int32
	ended := make(chan error, 8)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := s.Serve(r.Context(), w, View{Render: func(context.Context) (string, error) { return "x", nil }})
		if errors.Is(err, ErrBusy) {
			busy.Add(1)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		ended <- err
	}))
	t.Cleanup(srv.Close)
	_, r1 := open(t, srv.URL)
	readEvent(t, r1)
	ctx2, cancel2 := context.WithCancel(context.Background())
	req2, _ := http.NewRequestWithContext(ctx2, http.MethodGet, srv.URL, nil)
	resp2, err := http.DefaultClient.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	readEvent(t, bufio.NewReader(resp2.Body))
	if s.Open() != 2 {
		t.Fatalf("open = %d, want 2", s.Open())
	}
	resp3, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp3.Body.Close()
	if resp3.StatusCode != http.StatusServiceUnavailable || busy.Load() != 1 {
		t.Fatalf("third stream: %d (busy %d), want 503", resp3.StatusCode, busy.Load())
	}
	// The second viewer goes: its slot is free again.
	cancel2()
	resp2.Body.Close()
	if err := <-ended; err != nil {
		t.Fatalf("stream ended with %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Open() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	_, r4 := open(t, srv.URL)
	readEvent(t, r4)
	// Shutdown ends the rest.
	close(stop)
	for range 2 {
		select {
		case err := <-ended:
			if err != nil {
				t.Fatalf("stream ended with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("streams still open after stop")
		}
	}
	if s.Open() != 0 {
		t.Fatalf("open = %d after stop", s.Open())
	}
}

// BenchmarkStreamUpdate measures encoding one update of a 50-row
// fragment (what each open stream does per change).
func BenchmarkStreamUpdate(b *testing.B) {
	frag := strings.Repeat("<tr><td>+4915123456789</td><td>zugestellt</td></tr>\n", 50)
	b.ReportAllocs()
	b.SetBytes(int64(len(frag)))
	for b.Loop() {
		_ = Event("update", frag)
	}
}

// BenchmarkOpenStreamHeap measures the heap one open, idle stream holds
// (server side: handler goroutine, connection, buffers; client side
// excluded as far as the Go heap allows: both run in this process, so the
// figure is an upper bound): 32 streams, the default bound, are opened
// over loopback and the heap in use compared before and after.
func BenchmarkOpenStreamHeap(b *testing.B) {
	frag := strings.Repeat("<tr><td>+4915123456789</td><td>zugestellt</td></tr>\n", 50)
	const n = 32
	for b.Loop() {
		s := New(Limits{Streams: n, Every: time.Hour}, nil)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = s.Serve(r.Context(), w, View{Render: func(context.Context) (string, error) { return frag, nil }})
		}))
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ctx, cancel := context.WithCancel(context.Background())
		var bodies []io.Closer
		for range n {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			r := bufio.NewReader(resp.Body)
			for line := ""; !strings.HasPrefix(line, "data: <tr>"); {
				if line, err = r.ReadString('\n'); err != nil {
					b.Fatal(err)
				}
			}
			bodies = append(bodies, resp.Body)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/n, "heap-B/stream")
		b.ReportMetric(float64(s.Open()), "streams")
		cancel()
		for _, c := range bodies {
			c.Close()
		}
		srv.Close()
	}
}
