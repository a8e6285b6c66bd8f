package app

import (
	"log/slog"
	"time"

	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// LogSource is the daemon's recent log (*logbuf.Ring).
type LogSource interface {
	Records(q logbuf.Query) []logbuf.Record
}

const (
	LogPageLimit = 500
	LogAPILimit  = 2000
)

func ParseLevel(s string) (slog.Level, bool) {
	var l slog.Level
	if s == "" {
		return slog.LevelInfo, true
	}
	return l, l.UnmarshalText([]byte(s)) == nil
}

func (s *Server) LogRecords(level slog.Level, q string, limit int) []logbuf.Record {
	if s.D.Logs == nil {
		return nil
	}
	return s.D.Logs.Records(logbuf.Query{MinLevel: level, Contains: q, Limit: limit})
}

// TimeSec is Time with seconds, for log lines.
func (v *View) TimeSec(t time.Time) string {
	if v.Language == i18n.DE {
		return t.In(v.loc).Format("02.01.2006 15:04:05")
	}
	return t.In(v.loc).Format("2006-01-02 15:04:05")
}
