package screens

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/msglog"
)

// shortText is how many characters of a message the table shows before
// the rest folds away.
const shortText = 80

// messageRow is one table row.
type messageRow struct {
	msglog.Entry
	Short string // Text shortened to shortText characters
	Long  bool   // Short is not all of Text
	Link  string // the origin's page (campaign, chat session), if any
}

type messagesData struct {
	F        app.MessageFilter
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

func (s *Screens) MessagesPage(c *gin.Context) {
	if s.D.Messages == nil {
		s.Render(c, http.StatusOK, "unavailable", s.NewView(c, "messages", "nav.messages", "msglog.unavailable"))
		return
	}
	f, q, field := app.ParseMessageQuery(c, s.Location())
	d := messagesData{F: f, Statuses: app.MessageStatuses, Paged: q.Cursor != ""}
	if field != "" {
		// Only a hand-made URL gets here; show everything rather than nothing.
		d.BadQuery, q = "msglog.err.filter", msglog.Query{Text: q.Text, Cursor: q.Cursor}
	}
	q.Limit = msglog.DefaultLimit
	p, err := s.D.Messages.Search(c.Request.Context(), q)
	if errors.Is(err, msglog.ErrBadCursor) {
		d.BadQuery, d.Paged, q.Cursor = "msglog.err.cursor", false, ""
		p, err = s.D.Messages.Search(c.Request.Context(), q)
	}
	if err != nil {
		s.Log.Error("message log search", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d.Rows = messageRows(p.Items)
	d.Newest = "/messages?" + f.Values().Encode()
	if p.Next != "" {
		v := f.Values()
		v.Set("cursor", p.Next)
		d.Older = "/messages?" + v.Encode()
	}
	s.Render(c, http.StatusOK, "messages", s.NewView(c, "messages", "nav.messages", d))
}
