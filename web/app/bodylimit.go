package app

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/web/i18n"
)

// DefaultBodyLimit bounds the body of every request whose route is not an
// upload (uploadLimits): JSON, forms, webhooks, the simulators' controls.
const DefaultBodyLimit = 1 << 20

// UploadLimits are the only routes (method and gin route pattern) that
// take more than DefaultBodyLimit: CSV and contact files, campaign forms
// with a WhatsApp header file, WhatsApp media, firmware bundles and
// backups. TestUploadLimitsAreRoutes keeps the list in step with the
// router.
var UploadLimits = map[string]int64{
	// Portal forms.
	"POST /campaigns/new":                       MaxCampaignForm,
	"POST /campaigns/:id/edit":                  MaxCampaignForm,
	"POST /campaigns/preview-csv":               MaxUpload,
	"POST /contacts/phonebooks":                 MaxUpload,
	"POST /contacts/dnc":                        MaxUpload,
	"POST /contacts/lists":                      MaxUpload,
	"POST /system/update":                       maxBundleUpload,
	"POST /system/restore":                      MaxBackupUpload,
	"POST /api/v1/campaigns":                    MaxUpload,
	"PUT /api/v1/campaigns/:id":                 MaxUpload,
	"POST /api/v1/campaigns/preview-csv":        MaxUpload,
	"POST /api/v1/phonebooks":                   MaxUpload,
	"POST /api/v1/dnc-lists":                    MaxUpload,
	"POST /api/v1/contact-lists/:name/import":   MaxUpload,
	"POST /api/v1/contact-lists/:name/contacts": MaxUpload,
	"POST /api/v1/whatsapp/media":               whatsapp.MaxMediaBytes + 1<<20,
	"POST /mms":                                 MaxMMSUpload + 1<<20,
	"POST /api/v1/mms/fit":                      MaxMMSUpload + 1<<20,
	"POST /api/v1/mms/messages":                 MaxMMSUpload + 1<<20,
	"POST /sessions/:id/reply":                  MaxReplyFile + 1<<20,
	"POST /api/v1/sessions/:id/reply":           MaxReplyFile*4/3 + 1<<20, // base64 in JSON
	"POST /api/v1/system/update":                maxBundleUpload,
	"POST /api/v1/system/restore":               MaxBackupUpload,
}

// maxBundleUpload is a firmware bundle plus its multipart framing.
const maxBundleUpload = spool.MaxBundleSize + 1<<20

// BodyLimit is the most a request to route (gin's pattern, "" for no
// route) may send.
func BodyLimit(method, route string) int64 {
	if n, ok := UploadLimits[method+" "+route]; ok {
		return n
	}
	return DefaultBodyLimit
}

// LimitBody enforces the route's body budget while the body is read: a
// declared Content-Length above it is refused before any handler runs, a
// chunked body is cut off by http.MaxBytesReader at the limit. Whatever a
// handler answers to a body cut off this way becomes a 413 (unless it
// answered 413 itself), so no route can turn it into a 400 or a
// half-applied change, and new routes are covered without their own code.
func (s *Server) LimitBody(c *gin.Context) {
	limit := s.RouteLimit(c.Request.Method, c.FullPath())
	if c.Request.ContentLength > limit {
		s.Log.Warn("request body over budget", "method", c.Request.Method, "path", c.Request.URL.Path,
			"declared", c.Request.ContentLength, "limit", limit, "remote", c.ClientIP())
		// The body stays unread; net/http closes the connection after
		// the answer instead of draining it.
		c.Header("Connection", "close")
		s.tooLarge(c, limit)
		c.Abort()
		return
	}
	if c.Request.Body == nil || c.Request.Body == http.NoBody {
		c.Next()
		return
	}
	b := &budgetBody{ReadCloser: http.MaxBytesReader(c.Writer, c.Request.Body, limit)}
	c.Request.Body = b
	// over is the limit a body was cut off at: this budget's or a
	// handler's own smaller one (bodyTooLarge).
	over := func() (int64, bool) {
		if b.hit.Load() {
			return limit, true
		}
		if v, ok := c.Get(ctxBodyLimitHit); ok {
			n, _ := v.(int64)
			return n, true
		}
		return 0, false
	}
	w := &budgetWriter{ResponseWriter: c.Writer, over: over}
	w.refuse = func() {
		n, _ := over()
		c.Writer = w.ResponseWriter
		s.tooLarge(c, n)
		c.Writer = w
	}
	c.Writer = w
	c.Next()
	if _, hit := over(); hit && !w.Written() && w.Status() != http.StatusRequestEntityTooLarge {
		w.replace()
	}
	c.Writer = w.ResponseWriter
	if n, hit := over(); hit {
		s.Log.Warn("request body over budget", "method", c.Request.Method, "path", c.Request.URL.Path,
			"limit", n, "remote", c.ClientIP())
	}
}

// ctxBodyLimitHit is set by bodyTooLarge to the limit a handler's own
// body reader stopped at.
const ctxBodyLimitHit = "pbxgate.bodyLimitHit"

// BodyTooLarge reports whether err is a body cut off at a limit
// (http.MaxBytesError); then limitBody answers the 413 in the caller's
// language and the handler only returns.
func BodyTooLarge(c *gin.Context, err error) bool {
	var tooBig *http.MaxBytesError
	if !errors.As(err, &tooBig) {
		return false
	}
	c.Set(ctxBodyLimitHit, tooBig.Limit)
	c.Abort()
	return true
}

// budgetBody remembers that the body reached its limit.
type budgetBody struct {
	io.ReadCloser
	hit atomic.Bool
}

func (b *budgetBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var tooBig *http.MaxBytesError
	if err != nil && errors.As(err, &tooBig) {
		b.hit.Store(true)
	}
	return n, err
}

// budgetWriter turns the handler's answer into the 413 once its body hit
// the limit: at the handler's first byte (headers included) it writes the
// refusal instead and drops the rest.
type budgetWriter struct {
	gin.ResponseWriter
	over     func() (int64, bool)
	refuse   func()
	replaced bool
}

// over reports whether the answer must be replaced (and replaces it once).
func (w *budgetWriter) overBudget() bool {
	if w.replaced {
		return true
	}
	if _, hit := w.over(); !hit || w.ResponseWriter.Written() || w.Status() == http.StatusRequestEntityTooLarge {
		return false
	}
	w.replace()
	return true
}

func (w *budgetWriter) replace() {
	w.replaced = true
	h := w.Header()
	for _, k := range []string{"Location", "Content-Disposition", "Content-Type", "Content-Length", "Set-Cookie"} {
		h.Del(k)
	}
	w.refuse()
}

func (w *budgetWriter) Write(p []byte) (int, error) {
	if w.overBudget() {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

func (w *budgetWriter) WriteString(s string) (int, error) {
	if w.overBudget() {
		return len(s), nil
	}
	return w.ResponseWriter.WriteString(s)
}

func (w *budgetWriter) WriteHeaderNow() {
	if w.overBudget() {
		return
	}
	w.ResponseWriter.WriteHeaderNow()
}

func (w *budgetWriter) WriteHeader(code int) {
	if w.replaced {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *budgetWriter) Flush() {
	if w.overBudget() {
		return
	}
	w.ResponseWriter.Flush()
}

// tooLarge answers 413 in the caller's language: the API's JSON error for
// the API and the mounted machine endpoints (webhooks, simulators), the
// error page for the portal.
func (s *Server) tooLarge(c *gin.Context, limit int64) {
	if s.machineRequest(c) {
		cookie, _ := c.Cookie(LangCookie)
		lang := i18n.Negotiate(cookie, c.GetHeader("Accept-Language"), i18n.EN)
		WriteJSONError(c.Writer, http.StatusRequestEntityTooLarge, "too_large", s.Cat.T(lang, "error.body_too_large", sizeMB(limit)), "")
		return
	}
	v := s.NewView(c, "", "error.title", nil)
	v.Data = "error.body_too_large"
	v.Errors["message"] = v.T("error.body_too_large", sizeMB(limit))
	s.Render(c, http.StatusRequestEntityTooLarge, "error", v)
}

// machineRequest: the answer is for a program (API, webhooks, simulator
// controls, JSON bodies), not a browser page.
func (s *Server) machineRequest(c *gin.Context) bool {
	if IsAPI(c) {
		return true
	}
	if p := c.FullPath(); p != "" {
		if _, ok := s.D.Extra[strings.TrimSuffix(p, "*rest")]; ok {
			return true
		}
	}
	ct := c.ContentType()
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

// sizeMB renders a limit for people: whole MB (MiB), at least 1.
func sizeMB(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprint(n >> 20)
	}
	return fmt.Sprintf("%.2f", float64(n)/(1<<20))
}
