package app

import (
	"context"
	"errors"
	"fmt"

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

// MaxReplyLen bounds a reply typed in the portal or sent through the API
// (an SMS of this length is ten parts; WhatsApp allows 4,096 characters).
const MaxReplyLen = 1600

// ErrMediaFetch: the media could not be fetched (from Meta).
var ErrMediaFetch = errors.New("fetching the media failed")

// SessionMediaFile finds the path's media (:media) in session :id's log
// and fetches it (s.d.Media must be set); chat.ErrNotFound when the
// session or the media in it is unknown.
func (s *Server) SessionMediaFile(c *gin.Context) (path, mime string, err error) {
	id, mediaID := c.Param("id"), c.Param("media")
	entries, err := s.D.Sessions.Log(id)
	if err != nil {
		if !errors.Is(err, chat.ErrNotFound) {
			s.Log.Error("session log", "err", err)
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
	path, mime, err = s.D.Media.MediaFile(c.Request.Context(), mediaID)
	if err != nil {
		s.Log.Error("session media", "session", id, "media", mediaID, "err", err)
		return "", "", fmt.Errorf("%w: %w", ErrMediaFetch, err)
	}
	return path, mime, nil
}

// ServeSessionMedia sends a contact's file as stored, never sniffed.
func ServeSessionMedia(c *gin.Context, path, mime string) {
	c.Header("Content-Type", mime)
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Disposition", "inline")
	c.File(path)
}

// QuoteReplier sends a reply quoting the contact's message with sequence
// number quote in the session's log (WhatsApp); *session.Manager
// implements it. A message that cannot be quoted is chat.ErrCannotQuote.
type QuoteReplier interface {
	ReplyQuoting(ctx context.Context, id, by, text string, quote int) error
}

// TextBlockService offers the admin's text blocks (sip.sessions.text_blocks)
// to the portal's reply box; *session.Manager implements it. The screens
// use it when the SessionService has it too.
type TextBlockService interface {
	TextBlocks() []chat.TextBlock
	ExpandTextBlock(ref string, s chat.Session, agent string) (string, error)
}

// MediaReplier sends replies with a file: on an SMS session with an
// MMS-capable SIM the file is fitted to that SIM's carrier limit and sent
// as MMS (docs/mms.md). *session.Manager implements it. Refusals wrap
// chat.ErrMediaRefused with the reason code; nothing was sent then.
type MediaReplier interface {
	MediaOffer(ctx context.Context, id string) (chat.MediaOffer, error)
	ReplyWithFile(ctx context.Context, id, by, text, name string, data []byte) (chat.Attachment, error)
}

// MaxReplyFile bounds a file attached to a chat reply (as the MMS page's
// upload): what goes over the air is the carrier's limit.
const MaxReplyFile = MaxMMSUpload
