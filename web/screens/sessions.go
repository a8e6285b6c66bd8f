package screens

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

const sessionListLimit = 200

type sessionListData struct {
	Items []chat.Session
	All   bool
}

type sessionDetailData struct {
	S   chat.Session
	Log []chat.Entry
	// Blocks are the text blocks of the reply box's picker; Draft is the
	// reply box's text (with an inserted block).
	Blocks []chat.TextBlock
	Draft  string
	Block  string // the block picked last
	// Posted: the page answers a POST (a block was inserted), so it must
	// not reload itself (that would post again and lose the draft).
	Posted bool
	// Quote is the contact's message the reply quotes (WhatsApp), or nil;
	// byInbound finds a quoted message by its channel id.
	Quote     *chat.Entry
	CanQuote  bool
	byInbound map[string]chat.Entry
	// The reply's file (MMS on SMS sessions, sessions_file.go): File
	// says it can be attached (FileLimitKB, FileSIM); FileWhy why not;
	// FileErr why the last one was refused.
	File        bool
	FileLimitKB int
	FileSIM     string
	FileWhy     string
	FileErr     string
	fileErr     error
}

// Quoted is the message e quotes, if it is in this session's log (the
// contact's messages and pbxgate's replies by their wamid); nil with
// e.QuoteID set: it quotes a message pbxgate does not show here (e.g.
// one of an older conversation).
func (d sessionDetailData) Quoted(e chat.Entry) *chat.Entry {
	if q, ok := d.byInbound[e.QuoteID]; ok {
		return &q
	}
	return nil
}

// quotable reports whether a portal user can quote e in session sess.
func quotable(sess chat.Session, e chat.Entry) bool {
	return sess.Kind == message.WhatsApp && sess.State == "open" && e.Dir == chat.In && e.InboundID != ""
}

func (s *Screens) sessionsUnavailable(c *gin.Context) bool {
	if s.D.Sessions != nil {
		return false
	}
	v := s.NewView(c, "sessions", "nav.sessions", nil)
	v.Data = "sessions.unavailable"
	s.Render(c, http.StatusOK, "unavailable", v)
	return true
}

func (s *Screens) SessionList(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	all := c.Query("all") == "1"
	list, err := s.D.Sessions.List(!all, sessionListLimit)
	if err != nil {
		s.Log.Error("list sessions", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Render(c, http.StatusOK, "sessions", s.NewView(c, "sessions", "nav.sessions", sessionListData{Items: list, All: all}))
}

func (s *Screens) SessionDetail(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	s.sessionDetail(c, http.StatusOK, sessionDetailData{}, "")
}

// sessionDetail renders session :id with d's reply box (Draft, Block) and
// flash, if not "".
func (s *Screens) sessionDetail(c *gin.Context, code int, d sessionDetailData, flash string) {
	id := c.Param("id")
	sess, err := s.D.Sessions.Get(id)
	if errors.Is(err, chat.ErrNotFound) {
		s.RenderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	}
	if err != nil {
		s.Log.Error("get session", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	entries, err := s.D.Sessions.Log(id)
	if err != nil {
		s.Log.Error("session log", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d.S, d.Log = sess, entries
	_, d.CanQuote = s.D.Sessions.(app.QuoteReplier)
	d.CanQuote = d.CanQuote && sess.Kind == message.WhatsApp && sess.State == "open"
	d.byInbound = map[string]chat.Entry{}
	for _, e := range entries {
		if e.Dir == chat.In && e.InboundID != "" {
			d.byInbound[e.InboundID] = e
		} else if e.Dir == chat.Out && e.ChannelID != "" {
			d.byInbound[e.ChannelID] = e // a reply the contact quotes
		}
	}
	// The message to quote: "Reply to…" links with ?quote=seq, the reply
	// form posts it back (also when a text block is inserted).
	if q := cmp.Or(c.Query("quote"), c.PostForm("quote")); q != "" && d.CanQuote {
		seq, _ := strconv.Atoi(q)
		for i, e := range entries {
			if e.Seq == seq && quotable(sess, e) {
				d.Quote = &entries[i]
			}
		}
		if d.Quote == nil && flash == "" {
			flash, code = "whatsapp.quote.err", http.StatusUnprocessableEntity
		}
	}
	if tb, ok := s.D.Sessions.(app.TextBlockService); ok {
		d.Blocks = tb.TextBlocks()
	}
	v := s.NewView(c, "sessions", "nav.sessions", nil)
	s.fileOffer(c, v, &d)
	v.Data = d
	if flash != "" {
		v.Flash = flash
	}
	s.Render(c, code, "session_detail", v)
}

// SessionAction closes or transfers a session for the portal user; "by"
// in the timeline names the portal user.
func (s *Screens) SessionAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.sessionsUnavailable(c) {
			return
		}
		ctx := c.Request.Context()
		id := c.Param("id")
		by := "portal:" + app.CurrentUser(c).Name
		var err error
		switch action {
		case "reply":
			text := c.PostForm("text")
			if done := s.replyWithFile(c, id, by, text); done {
				return
			}
			if strings.TrimSpace(text) == "" || len([]rune(text)) > app.MaxReplyLen {
				s.Flash(c, "sessions.err.reply_length")
				c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
				return
			}
			if q := c.PostForm("quote"); q != "" {
				seq, aerr := strconv.Atoi(q)
				qr, ok := s.D.Sessions.(app.QuoteReplier)
				if aerr == nil && ok {
					err = qr.ReplyQuoting(ctx, id, by, text, seq)
				} else {
					err = chat.ErrCannotQuote
				}
				if errors.Is(err, chat.ErrCannotQuote) {
					// Nothing was sent: the text stays in the box.
					s.sessionDetail(c, http.StatusUnprocessableEntity, sessionDetailData{Draft: text, Posted: true}, "whatsapp.quote.err")
					return
				}
				break
			}
			err = s.D.Sessions.Reply(ctx, id, by, text)
		case "close":
			err = s.D.Sessions.Close(ctx, id, by)
		case "transfer":
			t := chat.ParseTarget(strings.TrimSpace(c.PostForm("target")))
			if t.IsZero() {
				s.Flash(c, "sessions.err.target")
				c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
				return
			}
			err = s.D.Sessions.Transfer(ctx, id, by, t)
		}
		switch {
		case errors.Is(err, chat.ErrNotFound):
			s.Flash(c, "sessions.err.closed")
		case errors.Is(err, chat.ErrUnknownTarget):
			s.Flash(c, "sessions.err.target")
		case errors.Is(err, chat.ErrWindowClosed):
			s.Flash(c, "sessions.err.window")
		case err != nil && action == "reply":
			// Stored, but the channel refused it: the chat log shows the
			// entry as failed with the channel's reason.
			s.Log.Warn("portal reply not sent", "id", id, "err", err)
			s.Flash(c, "sessions.err.reply_failed")
		case err != nil:
			s.Log.Error("session action", "action", action, "err", err)
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.Log.Info("session action", "action", action, "id", id, "user", by)
			s.Flash(c, "sessions.done."+action)
		}
		c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
	}
}

// SessionMedia serves a picture or document a contact sent in a session:
// the link the extension got in its chat. Only media that appear in that
// session's log are served, to logged-in users.
func (s *Screens) SessionMedia(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	if s.D.Media == nil {
		s.RenderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	}
	path, mime, err := s.SessionMediaFile(c)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		s.RenderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	case errors.Is(err, app.ErrMediaFetch):
		s.RenderError(c, http.StatusBadGateway, "error.internal")
		return
	case err != nil:
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	app.ServeSessionMedia(c, path, mime)
}
