package screens

import (
	"context"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clicktochat"
	"github.com/pbxgate/pbxgate/web/app"
)

// The Facebook Messenger and Instagram setup pages (app.MetaSetup):
// status, connection test, the webhook to enter at Meta, the m.me / ig.me
// link with its QR code, the subscribers. One template (metachat.html)
// serves both; the texts come from the platform's catalog keys.

type metaData struct {
	P      string // "messenger" or "instagram": the i18n key prefix and URL
	Status *app.MetaStatus
	// Test is the connection test's outcome: the account or the error.
	TestOK, TestErr string
	Link            string
	Href            template.URL
	QR              template.URL
}

// refRE is what Meta allows in a link's ref parameter (Messenger
// Platform, "m.me Links": a-z A-Z 0-9 +/=-.:_, at most 250 characters).
var refRE = regexp.MustCompile(`^[A-Za-z0-9+/=\-.:_]{0,250}$`)

// MetaLink returns the click-to-chat link: https://m.me/<page>?ref=<ref>
// (Messenger) or https://ig.me/m/<username>?ref=<ref> (Instagram).
func MetaLink(platform, username, ref string) (string, bool) {
	if username == "" || !refRE.MatchString(ref) {
		return "", false
	}
	link := "https://m.me/" + url.PathEscape(username) // netscope: link shown to users, never dialled
	if platform == "instagram" {
		link = "https://ig.me/m/" + url.PathEscape(username) // netscope: link shown to users, never dialled
	}
	if ref != "" {
		link += "?ref=" + url.QueryEscape(ref)
	}
	return link, true
}

func (s *Screens) metaSetup(p string) app.MetaSetup {
	if p == "instagram" {
		return s.D.Instagram
	}
	return s.D.Messenger
}

// MessengerPage and InstagramPage are the setup pages; POSTed (admins),
// they also test the connection (GET /me).
func (s *Screens) MessengerPage(c *gin.Context) { s.metaPage(c, "messenger") }
func (s *Screens) InstagramPage(c *gin.Context) { s.metaPage(c, "instagram") }

// MessengerPNG and InstagramPNG serve the link's QR code for print.
func (s *Screens) MessengerPNG(c *gin.Context) { s.metaPNG(c, "messenger") }
func (s *Screens) InstagramPNG(c *gin.Context) { s.metaPNG(c, "instagram") }

func (s *Screens) metaPage(c *gin.Context, p string) {
	d := &metaData{P: p}
	v := s.NewView(c, p, "nav."+p, d)
	if ms := s.metaSetup(p); ms != nil {
		st := ms.MetaStatus(c.Request.Context())
		d.Status = &st
		if c.Request.Method == http.MethodPost {
			ctx, cancel := context.WithTimeout(c.Request.Context(), 15*time.Second)
			name, err := ms.TestMeta(ctx)
			cancel()
			if err != nil {
				d.TestErr = v.T("meta.test_failed", err.Error())
			} else {
				d.TestOK = v.T("meta.test_ok", name)
			}
		}
		ref := strings.TrimSpace(c.Query("ref"))
		v.Form["ref"] = ref
		if st.Username != "" {
			link, ok := MetaLink(p, st.Username, ref)
			if !ok {
				v.Errors["ref"] = v.T("meta.err.ref")
			} else if svg, err := clicktochat.SVG(link, clicktochat.Medium); err == nil {
				d.Link, d.Href = link, template.URL(link)
				d.QR = template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(svg))
			}
		}
	}
	s.Render(c, http.StatusOK, "metachat", v)
}

func (s *Screens) metaPNG(c *gin.Context, p string) {
	ms := s.metaSetup(p)
	if ms == nil {
		s.RenderError(c, http.StatusNotFound, p+".not_configured")
		return
	}
	st := ms.MetaStatus(c.Request.Context())
	link, ok := MetaLink(p, st.Username, strings.TrimSpace(c.Query("ref")))
	if !ok {
		s.RenderError(c, http.StatusBadRequest, "meta.err.ref")
		return
	}
	s.qrPNG(c, link, p+"-qr.png")
}
