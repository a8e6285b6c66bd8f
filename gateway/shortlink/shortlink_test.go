package shortlink

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pbxgate/pbxgate/gateway/testkit"
)

func newLinks(t testing.TB, public string) *Links {
	t.Helper()
	l, err := New(Config{Store: testkit.StoreAt(t, t.TempDir()), PublicURL: public})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestShortenPerRecipient(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := newLinks(t, "http://127.0.0.1:8080/")
	text := "Angebot: http://127.0.0.1:9/shop/sale?id=7&x=1. Mehr: http://127.0.0.2/a_(b), Ende"
	a, err := l.Shorten(ctx, "12", 1, text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Shorten(ctx, "12", 2, text)
	if err != nil {
		t.Fatal(err)
	}
	urls := FindURLs(a)
	if len(urls) != 2 || !strings.HasPrefix(urls[0], "http://127.0.0.1:8080/s/") || len(urls[0]) != l.LinkLen() {
		t.Fatalf("shortened %q: %v", a, urls)
	}
	// The punctuation after a link stays in the text.
	if !strings.Contains(a, urls[0]+". Mehr: ") || !strings.HasSuffix(a, ", Ende") {
		t.Fatalf("punctuation lost: %q", a)
	}
	if a == b {
		t.Fatal("two recipients got the same short links")
	}
	// Idempotent: the same recipient gets the same text again.
	again, _ := l.Shorten(ctx, "12", 1, text)
	if again != a {
		t.Fatalf("not deterministic: %q vs %q", again, a)
	}
	// Short links are left alone.
	if s, _ := l.Shorten(ctx, "12", 1, a); s != a {
		t.Fatalf("re-shortened: %q", s)
	}
	key := strings.TrimPrefix(urls[0], l.Base())
	target, ok, err := l.Click(ctx, key)
	if err != nil || !ok || target != "http://127.0.0.1:9/shop/sale?id=7&x=1" {
		t.Fatalf("click: %q %v %v", target, ok, err)
	}
	for _, bad := range []string{"", "short", strings.Repeat("A", KeyLen), "../../etc/pwd", key + "x", strings.Replace(key, key[:1], "!", 1)} {
		if _, ok, err := l.Click(ctx, bad); ok || err != nil {
			t.Errorf("key %q: ok %v err %v", bad, ok, err)
		}
	}
	// A new Links on the same store (restart) keeps the secret: same keys.
	l2, err := New(Config{Store: l.st, PublicURL: "http://127.0.0.1:8080"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := l2.Shorten(ctx, "12", 1, text); s != a {
		t.Fatalf("after restart %q, want %q", s, a)
	}
}

func TestClickStatistics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 5, 4, 10, 30, 0, 0, time.UTC)
	l, err := New(Config{Store: testkit.StoreAt(t, t.TempDir()), PublicURL: "http://127.0.0.1:8080", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[int]string{}
	for seq := 1; seq <= 4; seq++ {
		s, err := l.Shorten(ctx, "7", seq, "Hi http://127.0.0.3/x")
		if err != nil {
			t.Fatal(err)
		}
		keys[seq] = strings.TrimPrefix(FindURLs(s)[0], l.Base())
	}
	if _, err := l.Shorten(ctx, "8", 1, "other http://127.0.0.3/x"); err != nil {
		t.Fatal(err)
	}
	click := func(seq int) {
		if _, ok, err := l.Click(ctx, keys[seq]); !ok || err != nil {
			t.Fatalf("click %d: %v %v", seq, ok, err)
		}
	}
	click(1)
	click(1)
	click(3)
	now = now.Add(time.Hour)
	click(3)
	st, err := l.Stats(ctx, "7")
	if err != nil {
		t.Fatal(err)
	}
	if st.Links != 4 || st.Recipients != 4 || st.Clicked != 2 || st.Clicks != 4 || st.PerRecipient[1] != 2 || st.PerRecipient[3] != 2 || st.PerRecipient[2] != 0 {
		t.Fatalf("stats %+v", st)
	}
	if r := st.Rate(4); r != 0.5 {
		t.Fatalf("rate %v", r)
	}
	if len(st.Timeline) != 2 || st.Timeline[0].Clicks != 3 || st.Timeline[1].Clicks != 1 || !st.Timeline[0].Hour.Equal(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("timeline %+v", st.Timeline)
	}
	if other, _ := l.Stats(ctx, "8"); other.Clicks != 0 || other.Links != 1 {
		t.Fatalf("other campaign %+v", other)
	}
	// Counts survive in the store.
	click(4)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	l2, _ := New(Config{Store: l.st, PublicURL: "http://127.0.0.1:8080"})
	if st, _ := l2.Stats(ctx, "7"); st.Clicks != 5 || st.Clicked != 3 {
		t.Fatalf("reloaded stats %+v", st)
	}
}

func TestDisabledWithoutPublicURL(t *testing.T) {
	t.Parallel()
	l := newLinks(t, "")
	if l.Enabled() || l.LinkLen() != 0 {
		t.Fatal("enabled without a public URL")
	}
	if s, err := l.Shorten(context.Background(), "1", 1, "x http://127.0.0.4"); !errors.Is(err, ErrDisabled) || s != "x http://127.0.0.4" {
		t.Fatalf("%q %v", s, err)
	}
	if _, err := New(Config{Store: l.st, PublicURL: "ftp://x"}); err == nil { // netscope: refused by New, never dialled
		t.Fatal("ftp public URL accepted")
	}
}

func TestPreviewLength(t *testing.T) {
	t.Parallel()
	l := newLinks(t, "http://127.0.0.1:8080")
	text := "Hallo, siehe http://127.0.0.5/a/very/long/path/that/is/longer/than/a/short/link?with=query und http://127.0.0.6/x."
	p := Preview(text, l.Sample())
	sent, err := l.Shorten(context.Background(), "1", 1, text)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != len(sent) {
		t.Fatalf("preview %d chars, sent %d chars:\n%s\n%s", len(p), len(sent), p, sent)
	}
}

// BenchmarkClick measures resolving a known key and counting the click
// (what the redirect does besides HTTP).
func BenchmarkClick(b *testing.B) {
	ctx := context.Background()
	l := newLinks(b, "http://127.0.0.1:8080")
	var keys []string
	for seq := range 1000 {
		s, err := l.Shorten(ctx, "1", seq, "http://127.0.0.7/offer")
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, strings.TrimPrefix(FindURLs(s)[0], l.Base()))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok, err := l.Click(ctx, keys[i%len(keys)]); !ok || err != nil {
			b.Fatal(ok, err)
		}
		if i%10000 == 9999 {
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
