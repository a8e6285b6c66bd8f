package web

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// LogSource is the daemon's recent log (*logbuf.Ring).
type LogSource interface {
	Records(q logbuf.Query) []logbuf.Record
}

const (
	logPageLimit = 500
	logAPILimit  = 2000
)

type logsData struct {
	Items     []logRow
	Level     string
	Levels    []string
	Query     string
	Available bool
}

// logRow is a record with its level as the page's word ("warn").
type logRow struct {
	logbuf.Record
	LevelName string
}

func levelName(l slog.Level) string {
	switch {
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

func parseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, true
	}
	return l, l.UnmarshalText([]byte(s)) == nil
}

func (s *server) logRecords(level slog.Level, q string, limit int) []logbuf.Record {
	if s.d.Logs == nil {
		return nil
	}
	return s.d.Logs.Records(logbuf.Query{MinLevel: level, Contains: q, Limit: limit})
}

func (s *server) logsPage(c *gin.Context) {
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelInfo
	}
	q := strings.TrimSpace(c.Query("q"))
	d := logsData{Level: levelName(lvl), Levels: []string{"debug", "info", "warn", "error"}, Query: q, Available: s.d.Logs != nil}
	for _, r := range s.logRecords(lvl, q, logPageLimit) {
		d.Items = append(d.Items, logRow{Record: r, LevelName: levelName(r.Level)})
	}
	s.render(c, http.StatusOK, "logs", s.newView(c, "system", "logs.title", d))
}

// logsText downloads the kept records, oldest first, as text lines.
func (s *server) logsText(c *gin.Context) {
	lvl, ok := parseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelDebug
	}
	recs := s.logRecords(lvl, strings.TrimSpace(c.Query("q")), 0)
	c.Header("Content-Disposition", `attachment; filename="pbxgate.log"`)
	c.Header("Cache-Control", "no-store")
	var b strings.Builder
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		fmt.Fprintf(&b, "%s %-5s %s", r.Time.UTC().Format("2006-01-02T15:04:05.000Z"), r.Level, r.Msg)
		if r.Attrs != "" {
			b.WriteString(" " + r.Attrs)
		}
		b.WriteByte('\n')
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(b.String()))
}

// TimeSec is Time with seconds, for log lines.
func (v *view) TimeSec(t time.Time) string {
	if v.lang == i18n.DE {
		return t.In(v.loc).Format("02.01.2006 15:04:05")
	}
	return t.In(v.loc).Format("2006-01-02 15:04:05")
}
