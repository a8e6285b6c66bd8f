package web

import (
	"context"
	"errors"
	"net/http"
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

// messageStatuses are the statuses the filters offer, in a message's order.
var messageStatuses = []message.Status{msglog.Received, message.Queued, message.Sending, message.Sent,
	message.Delivered, message.Read, message.Failed, message.Unknown}

// shortText is how many characters of a message the table shows before
// the rest folds away.
const shortText = 80

// messageFilter is the search form: the same query parameters as the API.
type messageFilter struct {
	Dir, Kind, Channel, Status, Q, From, To string
}

// values are the filter as query parameters (empty ones left out).
func (f messageFilter) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"dir": f.Dir, "kind": f.Kind, "channel": f.Channel, "status": f.Status,
		"q": f.Q, "from": f.From, "to": f.To} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// parseMessageQuery reads the filters; field names the one that is wrong.
// from and to are days (YYYY-MM-DD in loc, the portal's time zone; to
// includes its whole day) or RFC 3339 times (to exclusive).
func parseMessageQuery(c *gin.Context, loc *time.Location) (f messageFilter, q msglog.Query, field string) {
	f = messageFilter{Dir: c.Query("dir"), Kind: c.Query("kind"), Channel: strings.TrimSpace(c.Query("channel")),
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
	case f.Kind != "" && q.Kind != message.SMS && q.Kind != message.WhatsApp:
		field = "kind"
	case f.Status != "" && !slices.Contains(messageStatuses, q.Status):
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

// messageRow is one table row.
type messageRow struct {
	msglog.Entry
	Short string // Text shortened to shortText characters
	Long  bool   // Short is not all of Text
	Link  string // the origin's page (campaign, chat session), if any
}

type messagesData struct {
	F        messageFilter
	Rows     []messageRow
	Statuses []message.Status
	Older    string // URL of the next (older) page
	Newest   string // URL of the first page with the same filters
	Paged    bool   // a later page: offer the newest again
	BadQuery string // catalog key of a refused filter or cursor
}

func messageRows(items []msglog.Entry) []messageRow {
	rows := make([]messageRow, len(items))
	for i, e := range items {
		r := messageRow{Entry: e, Short: e.Text}
		if rs := []rune(e.Text); len(rs) > shortText {
			r.Short, r.Long = strings.TrimSpace(string(rs[:shortText-1]))+"…", true
		}
		switch e.Origin {
		case msglog.OriginCampaign:
			if e.OriginID != "" {
				r.Link = "/campaigns/" + url.PathEscape(e.OriginID)
			}
		case msglog.OriginSession:
			if e.OriginID != "" {
				r.Link = "/sessions/" + url.PathEscape(e.OriginID)
			}
		}
		rows[i] = r
	}
	return rows
}

func (s *server) messagesPage(c *gin.Context) {
	if s.d.Messages == nil {
		s.render(c, http.StatusOK, "unavailable", s.newView(c, "messages", "nav.messages", "msglog.unavailable"))
		return
	}
	f, q, field := parseMessageQuery(c, s.location())
	d := messagesData{F: f, Statuses: messageStatuses, Paged: q.Cursor != ""}
	if field != "" {
		// Only a hand-made URL gets here; show everything rather than nothing.
		d.BadQuery, q = "msglog.err.filter", msglog.Query{Text: q.Text, Cursor: q.Cursor}
	}
	q.Limit = msglog.DefaultLimit
	p, err := s.d.Messages.Search(c.Request.Context(), q)
	if errors.Is(err, msglog.ErrBadCursor) {
		d.BadQuery, d.Paged, q.Cursor = "msglog.err.cursor", false, ""
		p, err = s.d.Messages.Search(c.Request.Context(), q)
	}
	if err != nil {
		s.log.Error("message log search", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d.Rows = messageRows(p.Items)
	d.Newest = "/messages?" + f.values().Encode()
	if p.Next != "" {
		v := f.values()
		v.Set("cursor", p.Next)
		d.Older = "/messages?" + v.Encode()
	}
	s.render(c, http.StatusOK, "messages", s.newView(c, "messages", "nav.messages", d))
}
