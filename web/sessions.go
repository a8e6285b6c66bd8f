package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

// SessionService is what the Sessions screens need from the chat session
// manager; *session.Manager implements it.
type SessionService interface {
	List(openOnly bool, limit int) ([]chat.Session, error)
	Get(id string) (chat.Session, error)
	Log(id string) ([]chat.Entry, error)
	Close(ctx context.Context, id, by string) error
	Transfer(ctx context.Context, id, by string, t chat.Target) error
	// Reply sends text to the session's contact for a portal or API user.
	Reply(ctx context.Context, id, by, text string) error
}

// maxReplyLen bounds a reply typed in the portal or sent through the API
// (an SMS of this length is ten parts; WhatsApp allows 4,096 characters).
const maxReplyLen = 1600

const sessionListLimit = 200

type sessionListData struct {
	Items []chat.Session
	All   bool
}

type sessionDetailData struct {
	S   chat.Session
	Log []chat.Entry
}

func (s *server) sessionsUnavailable(c *gin.Context) bool {
	if s.d.Sessions != nil {
		return false
	}
	v := s.newView(c, "sessions", "nav.sessions", nil)
	v.Data = "sessions.unavailable"
	s.render(c, http.StatusOK, "unavailable", v)
	return true
}

func (s *server) sessionList(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	all := c.Query("all") == "1"
	list, err := s.d.Sessions.List(!all, sessionListLimit)
	if err != nil {
		s.log.Error("list sessions", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "sessions", s.newView(c, "sessions", "nav.sessions", sessionListData{Items: list, All: all}))
}

func (s *server) sessionDetail(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	id := c.Param("id")
	sess, err := s.d.Sessions.Get(id)
	if errors.Is(err, chat.ErrNotFound) {
		s.renderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	}
	if err != nil {
		s.log.Error("get session", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	entries, err := s.d.Sessions.Log(id)
	if err != nil {
		s.log.Error("session log", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.render(c, http.StatusOK, "session_detail", s.newView(c, "sessions", "nav.sessions", sessionDetailData{S: sess, Log: entries}))
}

// sessionAction closes or transfers a session for the portal user; "by"
// in the timeline names the portal user.
func (s *server) sessionAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.sessionsUnavailable(c) {
			return
		}
		ctx := c.Request.Context()
		id := c.Param("id")
		by := "portal:" + currentUser(c).Name
		var err error
		switch action {
		case "reply":
			text := c.PostForm("text")
			if strings.TrimSpace(text) == "" || len([]rune(text)) > maxReplyLen {
				s.flash(c, "sessions.err.reply_length")
				c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
				return
			}
			err = s.d.Sessions.Reply(ctx, id, by, text)
		case "close":
			err = s.d.Sessions.Close(ctx, id, by)
		case "transfer":
			t := chat.ParseTarget(strings.TrimSpace(c.PostForm("target")))
			if t.IsZero() {
				s.flash(c, "sessions.err.target")
				c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
				return
			}
			err = s.d.Sessions.Transfer(ctx, id, by, t)
		}
		switch {
		case errors.Is(err, chat.ErrNotFound):
			s.flash(c, "sessions.err.closed")
		case errors.Is(err, chat.ErrUnknownTarget):
			s.flash(c, "sessions.err.target")
		case errors.Is(err, chat.ErrWindowClosed):
			s.flash(c, "sessions.err.window")
		case err != nil && action == "reply":
			// Stored, but the channel refused it: the chat log shows the
			// entry as failed with the channel's reason.
			s.log.Warn("portal reply not sent", "id", id, "err", err)
			s.flash(c, "sessions.err.reply_failed")
		case err != nil:
			s.log.Error("session action", "action", action, "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.log.Info("session action", "action", action, "id", id, "user", by)
			s.flash(c, "sessions.done."+action)
		}
		c.Redirect(http.StatusSeeOther, "/sessions/"+url.PathEscape(id))
	}
}

// sessionMedia serves a picture or document a contact sent in a session:
// the link the extension got in its chat. Only media that appear in that
// session's log are served, to logged-in users.
func (s *server) sessionMedia(c *gin.Context) {
	if s.sessionsUnavailable(c) {
		return
	}
	if s.d.Media == nil {
		s.renderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	}
	path, mime, err := s.sessionMediaFile(c)
	switch {
	case errors.Is(err, chat.ErrNotFound):
		s.renderError(c, http.StatusNotFound, "sessions.err.not_found")
		return
	case errors.Is(err, errMediaFetch):
		s.renderError(c, http.StatusBadGateway, "error.internal")
		return
	case err != nil:
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	serveSessionMedia(c, path, mime)
}

// errMediaFetch: the media could not be fetched (from Meta).
var errMediaFetch = errors.New("fetching the media failed")

// sessionMediaFile finds the path's media (:media) in session :id's log
// and fetches it (s.d.Media must be set); chat.ErrNotFound when the
// session or the media in it is unknown.
func (s *server) sessionMediaFile(c *gin.Context) (path, mime string, err error) {
	id, mediaID := c.Param("id"), c.Param("media")
	entries, err := s.d.Sessions.Log(id)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			s.log.Error("session log", "err", err)
		}
		return "", "", err
	}
	found := false
	for _, e := range entries {
		found = found || (e.MediaID != "" && e.MediaID == mediaID)
	}
	if !found {
		return "", "", chat.ErrNotFound
	}
	path, mime, err = s.d.Media.MediaFile(c.Request.Context(), mediaID)
	if err != nil {
		s.log.Error("session media", "session", id, "media", mediaID, "err", err)
		return "", "", fmt.Errorf("%w: %w", errMediaFetch, err)
	}
	return path, mime, nil
}

// serveSessionMedia sends a contact's file as stored, never sniffed.
func serveSessionMedia(c *gin.Context, path, mime string) {
	c.Header("Content-Type", mime)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", "inline")
	c.File(path)
}
