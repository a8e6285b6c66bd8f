package app

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
)

// MessageLogService is what the message log screen and API need;
// *msglog.Log implements it.
type MessageLogService interface {
	Search(ctx context.Context, q msglog.Query) (msglog.Page, error)
	Get(ctx context.Context, id string) (msglog.Entry, error)
}

// MessageStatuses are the statuses the filters offer, in a message's order.
var MessageStatuses = []message.Status{msglog.Received, message.Queued, message.Sending, message.Sent,
	message.Delivered, message.Read, message.Failed, message.Unknown}

// MessageFilter is the search form: the same query parameters as the API.
type MessageFilter struct {
	Dir, Kind, Channel, Status, Q, From, To string
}

// Values are the filter as query parameters (empty ones left out).
func (f MessageFilter) Values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"dir": f.Dir, "kind": f.Kind, "channel": f.Channel, "status": f.Status,
		"q": f.Q, "from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// ParseMessageQuery reads the filters; field names the one that is wrong.
// from and to are days (YYYY-MM-DD in loc, the portal's time zone; to
// includes its whole day) or RFC 3339 times (to exclusive).
func ParseMessageQuery(c *gin.Context, loc *time.Location) (f MessageFilter, q msglog.Query, field string) {
	f = MessageFilter{Dir: c.Query("dir"), Kind: c.Query("kind"), Channel: strings.TrimSpace(c.Query("channel")),
		Status: c.Query("status"), Q: strings.TrimSpace(c.Query("q")),
		From: strings.TrimSpace(c.Query("from")), To: strings.TrimSpace(c.Query("to"))}
	q = msglog.Query{Direction: msglog.Direction(f.Dir), Kind: message.Kind(f.Kind), Channel: f.Channel,
		Status: message.Status(f.Status), Text: f.Q, Cursor: c.Query("cursor")}
	var fromOK, toOK bool
	q.Since, fromOK = parseLogTime(f.From, loc, false)
	q.Until, toOK = parseLogTime(f.To, loc, true)
	switch {
	case f.Dir != "" && q.Direction != msglog.In && q.Direction != msglog.Out:
		field = "dir"
	case f.Kind != "" && !q.Kind.Known():
		field = "kind"
	case f.Status != "" && !slices.Contains(MessageStatuses, q.Status):
		field = "status"
	case !fromOK:
		field = "from"
	case !toOK:
		field = "to"
	case !q.Since.IsZero() && !q.Until.IsZero() && !q.Until.After(q.Since):
		field = "to"
	}
	return f, q, field
}

// parseLogTime reads a from/to value; a day as the end of a range means
// the start of the next day. Empty is no bound.
func parseLogTime(s string, loc *time.Location, end bool) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	if d, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		if end {
			d = d.AddDate(0, 0, 1)
		}
		return d, true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t, err == nil
}
