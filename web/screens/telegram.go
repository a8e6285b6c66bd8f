package screens

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/web/app"
)

// The Telegram bot's setup page (app.TelegramSetup): status, connection
// test, the t.me deep link with its QR code, the subscribers.

type telegramData struct {
	Status *app.TelegramStatus
	// Test is the connection test's outcome: the bot's name or the error.
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// TelegramPage is the bot's setup page; POSTed (admins), it also tests the
// connection (getMe).
func (s *Screens) TelegramPage(c *gin.Context) {
	d := &telegramData{}
	v := s.NewView(c, "telegram", "nav.telegram", d)
	if s.D.Telegram != nil {
		st := s.D.Telegram.TelegramStatus(c.Request.Context())
		d.Status = &st
		if c.Request.Method == http.MethodPost {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
			name, err := s.D.Telegram.TestTelegram(ctx)
			cancel()
			if err != nil {
				d.TestErr = v.T("telegram.test_failed", err.Error())
			} else {
				d.TestOK = v.T("telegram.test_ok", "@"+name)
				st.Bot = name
			}
		}
		payload := strings.TrimSpace(c.Query("start"))
		v.Form["start"] = payload
		if st.Bot != "" {
			link, err := clicktochat.Telegram(st.Bot, payload)
			if err != nil {
				v.Errors["start"] = v.T("telegram.err.start")
			} else if svg, err := clicktochat.SVG(link, clicktochat.Medium); err == nil {
				d.Link, d.Href = link, template.URL(link)
				d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
			}
		}
	}
	s.Render(c, http.StatusOK, "telegram", v)
}

// TelegramPNG serves the deep link's QR code for print.
func (s *Screens) TelegramPNG(c *gin.Context) {
	if s.D.Telegram == nil {
		s.RenderError(c, http.StatusNotFound, "telegram.not_configured")
		return
	}
	st := s.D.Telegram.TelegramStatus(c.Request.Context())
	link, err := clicktochat.Telegram(st.Bot, strings.TrimSpace(c.Query("start")))
	if err != nil {
		s.RenderError(c, http.StatusBadRequest, "telegram.err.start")
		return
	}
	s.qrPNG(c, link, "telegram-qr.png")
}
