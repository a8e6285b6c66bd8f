package app

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web/i18n"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var AssetFS embed.FS

// pages are the parsed templates: each page is the layout plus its own file.
type pages struct {
	byName map[string]*template.Template
	// assetVersion busts browser caches when the embedded assets change.
	assetVersion string
}

var templateFuncs = template.FuncMap{
	"pct": func(part, total int) int {
		if total <= 0 {
			return 0
		}
		return part * 100 / total
	},
	"add":    func(a, b int) int { return a + b },
	"sub":    func(a, b int) int { return a - b },
	"mul":    func(a, b int) int { return a * b },
	"min":    func(a, b int) int { return min(a, b) },
	"join":   strings.Join,
	"tplkey": TemplateKey,
	// tplsearch is a template's search text (template_search.go).
	"tplsearch": TemplateSearchText,
	"list3":     func(a, b, c string) []string { return []string{a, b, c} },
	"upper":     strings.ToUpper,
}

func loadPages() (*pages, error) {
	base, err := template.New("layout.html").Funcs(templateFuncs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("web: layout template: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p.byName[name] = t
	}
	h := sha256.New()
	err = fs.WalkDir(AssetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := AssetFS.ReadFile(p)
		h.Write(b)
		return err
	})
	if err != nil {
		return nil, err
	}
	p.assetVersion = hex.EncodeToString(h.Sum(nil))[:10]
	return p, nil
}

// View is what every template gets: translation, formatting and the
// request's user, plus the page's own Data.
type View struct {
	Cat      *i18n.Catalog
	Language i18n.Lang
	loc      *time.Location

	User         users.User
	LoggedIn     bool
	CSRF         string
	FormToken    string
	Nav          string // active navigation entry
	Title        string // catalog key
	Path         string
	AssetVersion string
	Flash        string // catalog key
	DiskBanner   string // translated low-disk warning (disk.go)
	Errors       map[string]string
	Form         map[string]string
	Data         any
}

// T translates key in the request's language.
func (v *View) T(key string, args ...any) string { return v.Cat.T(v.Language, key, args...) }

// Lang is the page language code.
func (v *View) Lang() string { return string(v.Language) }

// Langs lists the languages for the switcher.
func (v *View) Langs() []string {
	var out []string
	for _, l := range i18n.Supported() {
		out = append(out, string(l))
	}
	return out
}

// Time formats t in the portal's zone the way the reader expects.
func (v *View) Time(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	if v.Language == i18n.DE {
		return t.In(v.loc).Format("02.01.2006 15:04")
	}
	return t.In(v.loc).Format("2006-01-02 15:04")
}

// Err is the translated error for a form field, "" if none.
func (v *View) Err(field string) string { return v.Errors[field] }

// Val is the submitted value of a form field, for re-rendering.
func (v *View) Val(field string) string { return v.Form[field] }

// StateWord translates a status word from a driver ("word.<w>") and shows
// unknown words as reported.
func (v *View) StateWord(w string) string {
	if w == "" {
		return "–"
	}
	if key := "word." + w; v.Cat.Has(v.Language, key) {
		return v.T(key)
	}
	return w
}

// StateLabel is a campaign state's name in the seeds' words.
func (v *View) StateLabel(st CampaignState) string { return v.T("state." + string(st)) }

// RecipientState translates a recipient result state.
func (v *View) RecipientState(st string) string {
	if key := "rstate." + st; v.Cat.Has(v.Language, key) {
		return v.T(key)
	}
	return st
}

// ChannelLabel names a channel kind ("sms", "whatsapp").
func (v *View) ChannelLabel(kind string) string {
	if key := "channel." + kind; v.Cat.Has(v.Language, key) {
		return v.T(key)
	}
	return kind
}

// Reason translates a reason code from below the portal (a rejected
// number, an excluded or failed recipient, a campaign's state change) with
// the catalog's "reason.<code>" keys; the translated cause of a wrapping
// code fills the placeholder after its arguments. Records without a code
// (stored before codes existed) or with a code the catalog lacks show
// fallback, the English text.
func (v *View) Reason(r message.Reason, fallback string) string {
	if s, ok := v.reason(r, 0); ok {
		return s
	}
	return fallback
}

func (v *View) reason(r message.Reason, depth int) (string, bool) {
	key := "reason." + r.Code
	if r.Code == "" || depth > 8 || !v.Cat.Has(v.Language, key) {
		return "", false
	}
	args := r.Args
	if r.Cause != nil {
		cause, ok := v.reason(*r.Cause, depth+1)
		if !ok {
			return "", false
		}
		args = append(slices.Clip(args), cause)
	}
	// One pass, so an argument holding "{1}" (a CSV cell) stays as it is.
	return placeholder.ReplaceAllStringFunc(v.T(key), func(p string) string {
		if i, err := strconv.Atoi(p[1 : len(p)-1]); err == nil && i < len(args) {
			return args[i]
		}
		return p
	}), true
}

var placeholder = regexp.MustCompile(`\{\d+\}`)

// IsAdmin reports whether the user may change settings.
func (v *View) IsAdmin() bool { return v.User.Role == users.RoleAdmin }

func (s *Server) NewView(c *gin.Context, nav, title string, data any) *View {
	v := &View{
		Cat: s.Cat, Language: s.Lang(c), loc: s.Location(),
		Nav: nav, Title: title, Path: c.Request.URL.RequestURI(), AssetVersion: s.pages.assetVersion,
		Data: data, Errors: map[string]string{}, Form: map[string]string{},
	}
	if u, ok := c.Get(ctxUser); ok {
		v.User, _ = u.(users.User)
		v.LoggedIn = true
	}
	if sess := CurrentSession(c); sess != nil {
		v.CSRF = sess.CSRF
	}
	v.DiskBanner = s.diskBanner(v)
	if f, err := c.Cookie(flashCookie); err == nil && s.Cat.Has(v.Language, f) {
		v.Flash = f
		s.SetCookie(c, &http.Cookie{Name: flashCookie, Path: "/", MaxAge: -1})
	}
	return v
}

const flashCookie = "pbxgate_flash"

// Flash shows a one-time message (catalog key) on the next page.
func (s *Server) Flash(c *gin.Context, key string) {
	s.SetCookie(c, &http.Cookie{Name: flashCookie, Value: key, Path: "/", MaxAge: 60})
}

// Render writes a page; template errors become a logged 500.
func (s *Server) Render(c *gin.Context, code int, page string, v *View) {
	s.RenderTemplate(c, code, page, "page", v)
}

func (s *Server) RenderTemplate(c *gin.Context, code int, page, tmpl string, v *View) {
	t, ok := s.pages.byName[page]
	if !ok {
		panic("web: no template " + page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		s.Log.Error("render template", "page", page, "err", err)
		c.String(http.StatusInternalServerError, "internal error; see the pbxgate log")
		c.Abort()
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	c.Status(code)
	_, _ = c.Writer.Write(buf.Bytes())
}

// Fragment renders template tmpl of page to a string (live views).
func (s *Server) Fragment(page, tmpl string, v *View) (string, error) {
	t, ok := s.pages.byName[page]
	if !ok {
		return "", fmt.Errorf("web: no template %s", page)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, tmpl, v); err != nil {
		return "", fmt.Errorf("render %s/%s: %w", page, tmpl, err)
	}
	return buf.String(), nil
}

func (s *Server) RenderError(c *gin.Context, code int, key string) {
	v := s.NewView(c, "", "error.title", nil)
	v.Data = key
	s.Render(c, code, "error", v)
	c.Abort()
}

func (s *Server) Static(c *gin.Context) {
	name := path.Clean("/" + c.Param("file"))
	b, err := AssetFS.ReadFile("assets" + name)
	if err != nil {
		c.Status(http.StatusNotFound)
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, ct, b)
}

// APIErrorBody is the one error shape of the API.
func APIErrorBody(code, message, field string) gin.H {
	e := gin.H{"code": code, "message": message}
	if field != "" {
		e["field"] = field
	}
	return gin.H{"error": e}
}

func APIError(c *gin.Context, status int, code, message, field string) {
	c.AbortWithStatusJSON(status, APIErrorBody(code, message, field))
}

func WriteJSONError(w http.ResponseWriter, status int, code, message, field string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(APIErrorBody(code, message, field))
}
