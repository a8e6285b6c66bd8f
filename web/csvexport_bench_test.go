package web

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"testing"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/pbxgate/pbxgate/web/i18n"
)

// BenchmarkLocalizedExport measures the portal's German rewrite of a
// campaign export of 10,000 recipients (the engine's CSV in, the German
// CSV out, through the pipe the download uses); bytes/op is the input.
func BenchmarkLocalizedExport(b *testing.B) {
	cat, err := i18n.Load()
	if err != nil {
		b.Fatal(err)
	}
	var in bytes.Buffer
	w := csv.NewWriter(&in)
	_ = w.Write([]string{"number", "name", "status", "reason", "code", "attempt", "sending_at", "sent_at", "done_at"})
	for i := range 10000 {
		_ = w.Write([]string{fmt.Sprintf("+49151%08d", i), "Anna", "delivered", "", "", "1", "2026-12-06T10:00:00+01:00", "2026-12-06T10:00:01+01:00", "2026-12-06T10:00:05+01:00"})
	}
	w.Flush()
	src := in.Bytes()
	l := app.CSVLocalizer{V: &app.View{Cat: cat, Language: i18n.DE}}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		err := l.LocalizedExport(io.Discard, func(w io.Writer) error {
			_, err := w.Write(src)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestLocalizedExport checks what the benchmark measures: German header
// and status words, the variable column and numbers unchanged.
func TestLocalizedExport(t *testing.T) {
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	l := app.CSVLocalizer{V: &app.View{Cat: cat, Language: i18n.DE}}
	var out bytes.Buffer
	err = l.LocalizedExport(&out, func(w io.Writer) error {
		_, err := io.WriteString(w, "number,name,status,reason\n+4915112345678,\"Anna, M.\",failed,\"bad, number\"\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "Nummer,name,Status,Grund\n+4915112345678,\"Anna, M.\",Fehlgeschlagen,\"bad, number\"\n" {
		t.Fatalf("localised export:\n%s", got)
	}
	// An export error reaches the caller (the download is then aborted).
	err = l.LocalizedExport(io.Discard, func(w io.Writer) error { return io.ErrUnexpectedEOF })
	if err == nil {
		t.Fatal("export error lost")
	}
}
