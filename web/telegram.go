package web

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// TelegramSetup is the Telegram bot as its setup page shows it (the
// daemon adapts drivers/telegram.Channel).
type TelegramSetup interface {
	TelegramStatus(ctx context.Context) TelegramStatus
	// TestTelegram asks Telegram who the bot is (getMe): the bot's
	// username, or why the token does not work.
	TestTelegram(ctx context.Context) (string, error)
}

// TelegramStatus is the bot's state. The token is never passed in.
type TelegramStatus struct {
	Channel     string
	Mode        string // "polling" or "webhook"
	Bot         string // username, known once Telegram answered
	WebhookURL  string
	LastOK      time.Time
	LastError   string
	Received    int64
	Sent        int64
	Subscribers int
	Blocked     int
	// List is the subscribers, newest first (at most MaxTelegramList):
	// their chat ids are what a campaign to them is addressed to.
	List []TelegramSubscriber
}

// TelegramSubscriber is one chat that wrote to the bot.
type TelegramSubscriber struct {
	ChatID   int64
	Name     string
	Username string
	Payload  string // the start parameter of the link it came by
	First    time.Time
	Blocked  bool
}

// MaxTelegramList bounds the subscriber table on the page.
const MaxTelegramList = 200

type telegramData struct {
	Status *TelegramStatus
	// Test is the connection test's outcome: the bot's name or the error.
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// telegramRoutes: the setup page, its connection test and the deep link's
// QR code as PNG.
func (s *server) telegramRoutes(p *gin.RouterGroup) {
	p.GET("/telegram", s.telegramPage)
	p.POST("/telegram/test", s.requireRole(users.RoleAdmin), s.telegramPage)
	p.GET("/telegram/qr.png", s.telegramPNG)
}

func (s *server) telegramPage(c *gin.Context) {
	d := &telegramData{}
	v := s.newView(c, "telegram", "nav.telegram", d)
	if s.d.Telegram != nil {
		st := s.d.Telegram.TelegramStatus(c.Request.Context())
		d.Status = &st
		if c.Request.Method == http.MethodPost {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
			name, err := s.d.Telegram.TestTelegram(ctx)
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
	s.render(c, http.StatusOK, "telegram", v)
}

// telegramPNG serves the deep link's QR code for print.
func (s *server) telegramPNG(c *gin.Context) {
	if s.d.Telegram == nil {
		s.renderError(c, http.StatusNotFound, "telegram.not_configured")
		return
	}
	st := s.d.Telegram.TelegramStatus(c.Request.Context())
	link, err := clicktochat.Telegram(st.Bot, strings.TrimSpace(c.Query("start")))
	if err != nil {
		s.renderError(c, http.StatusBadRequest, "telegram.err.start")
		return
	}
	png, err := clicktochat.PNG(link, clicktochat.Medium, 1024)
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	c.Header("Content-Disposition", `attachment; filename="telegram-qr.png"`)
	c.Data(http.StatusOK, "image/png", png)
}
