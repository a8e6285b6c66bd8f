package screens

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
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

func (s *Screens) LogsPage(c *gin.Context) {
	lvl, ok := app.ParseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelInfo
	}
	q := strings.TrimSpace(c.Query("q"))
	d := logsData{Level: levelName(lvl), Levels: []string{"debug", "info", "warn", "error"}, Query: q, Available: s.D.Logs != nil}
	for _, r := range s.LogRecords(lvl, q, app.LogPageLimit) {
		d.Items = append(d.Items, logRow{Record: r, LevelName: levelName(r.Level)})
	}
	s.Render(c, http.StatusOK, "logs", s.NewView(c, "system", "logs.title", d))
}

// LogsText downloads the kept records, oldest first, as text lines.
func (s *Screens) LogsText(c *gin.Context) {
	lvl, ok := app.ParseLevel(c.Query("level"))
	if !ok {
		lvl = slog.LevelDebug
	}
	recs := s.LogRecords(lvl, strings.TrimSpace(c.Query("q")), 0)
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
