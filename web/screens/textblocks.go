package screens

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	chat "github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web/app"
)

// SessionTextBlock inserts the picked text block (form field "block"),
// filled in by gateway/session for this session and portal user ({agent}),
// into the reply box after what was already typed ("text"), and shows
// the session again; nothing is sent. The text typed so far is kept
// whatever happens.
func (s *Screens) SessionTextBlock(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	d := sessionDetailData{Draft: c.PostForm("text"), Block: c.PostForm("block"), Posted: true}
	tb, ok := s.D.Sessions.(app.TextBlockService)
	if !ok {
		s.sessionDetail(c, http.StatusUnprocessableEntity, d, "sessions.err.text_block")
		return
	}
	sess, err := s.D.Sessions.Get(c.Param("id"))
	if err != nil {
		// Not found or failing: the detail screen says so.
		s.sessionDetail(c, http.StatusOK, d, "")
		return
	}
	text, err := tb.ExpandTextBlock(d.Block, sess, app.CurrentUser(c).Name)
	switch {
	case errors.Is(err, chat.ErrBadCommand):
		s.sessionDetail(c, http.StatusUnprocessableEntity, d, "sessions.err.text_block")
		return
	case err != nil:
		s.Log.Error("text block", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if strings.TrimSpace(d.Draft) != "" {
		d.Draft = strings.TrimRight(d.Draft, " \t\r\n") + "\n" + text
	} else {
		d.Draft = text
	}
	s.sessionDetail(c, http.StatusOK, d, "")
}
