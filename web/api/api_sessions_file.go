package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/web/app"

	chat "github.com/pbxgate/pbxgate/gateway/session"
)

// apiReplyRequest is a session reply: its text, the seq of a contact's
// message it quotes (WhatsApp; 0: none), and a file sent as MMS (SMS
// sessions with an MMS-capable SIM, docs/mms.md). A multipart body gives
// text and quote as fields and the file as part "media".
type apiReplyRequest struct {
	Text  string        `json:"text"`
	Quote int           `json:"quote"`
	Media *apiMediaFile `json:"media"`
}

// bindReply reads a JSON or multipart reply; false: it answered.
func (s *API) bindReply(c *gin.Context, req *apiReplyRequest) bool {
	if !strings.HasPrefix(c.ContentType(), "multipart/") {
		if err := c.ShouldBindJSON(req); err != nil {
			if app.BodyTooLarge(c, err) {
				return false
			}
			app.APIError(c, http.StatusBadRequest, "bad_json", `body must be {"text":"…"}, {"text":"…","quote":seq} or {"text":"…","media":{"name":"…","data":"base64"}}`, "")
			return false
		}
		return true
	}
	req.Text = c.PostForm("text")
	if q := c.PostForm("quote"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil {
			app.APIError(c, http.StatusBadRequest, "invalid", "quote must be the seq of a message", "quote")
			return false
		}
		req.Quote = n
	}
	fh, err := c.FormFile("media")
	if err != nil {
		if app.BodyTooLarge(c, err) {
			return false
		}
		return true // no file: a text reply
	}
	f, err := fh.Open()
	var data []byte
	if err == nil {
		data, err = io.ReadAll(io.LimitReader(f, app.MaxReplyFile+1))
		f.Close()
	}
	if err != nil {
		if app.BodyTooLarge(c, err) {
			return false
		}
		app.APIError(c, http.StatusBadRequest, "invalid", "the media part cannot be read: "+err.Error(), "media")
		return false
	}
	req.Media = &apiMediaFile{Name: fh.Filename, Data: data}
	return true
}

// apiReplyResult is the session after a reply and, for a reply with a
// file, what fitting did to it.
type apiReplyResult struct {
	chat.Session
	Attachment *chat.Attachment `json:"attachment,omitempty"`
}

// apiReplyWithFile sends a reply with its file as MMS: 422 on field media
// with the reason when the file cannot be sent (nothing was sent then).
func (s *API) apiReplyWithFile(c *gin.Context, id, by string, req apiReplyRequest) {
	switch {
	case req.Quote != 0:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "a reply with a file cannot quote (quoting is WhatsApp's, files go as MMS on SMS sessions)", "quote")
		return
	case len(req.Media.Data) == 0:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "media: the file is empty", "media")
		return
	case len(req.Media.Data) > app.MaxReplyFile:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("media: the file is larger than %d MB", app.MaxReplyFile>>20), "media")
		return
	case len([]rune(req.Text)) > app.MaxReplyLen:
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", fmt.Sprintf("text must have at most %d characters", app.MaxReplyLen), "text")
		return
	}
	mr, ok := s.D.Sessions.(app.MediaReplier)
	if !ok {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", "this session service cannot send files", "media")
		return
	}
	att, err := mr.ReplyWithFile(c.Request.Context(), id, by, req.Text, req.Media.Name, req.Media.Data)
	switch {
	case errors.Is(err, chat.ErrMediaRefused):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "media")
		return
	case errors.Is(err, chat.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", "no open session with this id", "")
		return
	case err != nil:
		app.APIError(c, http.StatusBadGateway, "channel_refused", err.Error(), "")
		return
	}
	sess, _ := s.D.Sessions.Get(id)
	c.JSON(http.StatusOK, apiReplyResult{Session: sess, Attachment: &att})
}
