package whatsapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// keyTemplate + name + "/" + language holds a TemplateInfo.
const keyTemplate = "wa/tpl/"

// TemplateInfo is the local copy of one template translation, with the
// variables a sender must fill.
type TemplateInfo struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`   // APPROVED, PENDING, REJECTED, PAUSED, DISABLED …
	Category string `json:"category"` // MARKETING, UTILITY, AUTHENTICATION
	// StatusReason is what Meta said with the last status change
	// (message_template_status_update: event, reason, explanation).
	StatusReason string `json:"status_reason,omitempty"`
	// Quality is the template's quality rating from Meta's last
	// message_template_quality_update (GREEN, YELLOW, RED, UNKNOWN; ""
	// none yet); the listing does not carry it, a sync keeps it.
	Quality    string                    `json:"quality,omitempty"`
	Components []RemoteTemplateComponent `json:"components"`
	Vars       TemplateVars              `json:"vars"`
	SyncedAt   time.Time                 `json:"synced_at"`
}

// TemplateVars describes the parameters a send of the template needs.
type TemplateVars struct {
	// HeaderFormat is "", TEXT, IMAGE, DOCUMENT, VIDEO or LOCATION.
	HeaderFormat string `json:"header_format,omitempty"`
	// HeaderParams is 1 when the header needs a parameter (a media or
	// location header, or a TEXT header with {{1}}).
	HeaderParams int `json:"header_params"`
	// Body is the number of distinct {{n}} in the body.
	Body int `json:"body"`
	// Buttons lists buttons whose URL has a variable (index → 1).
	Buttons []ButtonVar `json:"buttons,omitempty"`
	// Named: the template has parameter_format NAMED; every header and
	// body parameter carries its parameter_name. HeaderNames and
	// BodyNames are the placeholders in order of first appearance.
	Named       bool     `json:"named,omitempty"`
	HeaderNames []string `json:"header_names,omitempty"`
	BodyNames   []string `json:"body_names,omitempty"`
}

// ButtonVar is a button that needs a parameter.
type ButtonVar struct {
	Index   int    `json:"index"`
	SubType string `json:"sub_type"` // url
	Params  int    `json:"params"`
}

// Variables lists the placeholders of the text header and the body in
// order ("1", "2" … or names), for previews and campaign validation.
func (t TemplateInfo) Variables() []string {
	var out []string
	for _, c := range t.Components {
		typ := strings.ToUpper(c.Type)
		if typ == "BODY" || (typ == "HEADER" && (c.Format == "" || strings.EqualFold(c.Format, "TEXT"))) {
			seen := map[string]bool{}
			for _, m := range placeholderRE.FindAllStringSubmatch(c.Text, -1) {
				if !seen[m[1]] {
					seen[m[1]] = true
					out = append(out, m[1])
				}
			}
		}
	}
	return out
}

// BodyText is the body with its {{n}} placeholders.
func (t TemplateInfo) BodyText() string {
	for _, c := range t.Components {
		if strings.EqualFold(c.Type, "BODY") {
			return c.Text
		}
	}
	return ""
}

// Approved reports whether campaigns may use the template.
func (t TemplateInfo) Approved() bool { return t.Status == "APPROVED" }

var placeholderRE = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// countVars counts the distinct placeholders ({{1}} or {{name}}) in s.
func countVars(s string) int {
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// placeholders lists the distinct placeholders of s in order.
func placeholders(s string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(s, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

// VarsOfTemplate derives the variables of a template as Meta lists it,
// with its parameter format.
func VarsOfTemplate(rt RemoteTemplate) TemplateVars {
	v := VarsOf(rt.Components)
	v.Named = strings.EqualFold(rt.ParameterFormat, "NAMED")
	if !v.Named {
		v.HeaderNames, v.BodyNames = nil, nil
	}
	return v
}

// VarsOf derives the variables a send must fill from template components.
func VarsOf(cs []RemoteTemplateComponent) TemplateVars {
	var v TemplateVars
	for _, c := range cs {
		switch strings.ToUpper(c.Type) {
		case "HEADER":
			v.HeaderFormat = strings.ToUpper(c.Format)
			switch v.HeaderFormat {
			case "TEXT", "":
				v.HeaderParams = countVars(c.Text)
				v.HeaderNames = placeholders(c.Text)
			default:
				v.HeaderParams = 1
			}
		case "BODY":
			v.Body = countVars(c.Text)
			v.BodyNames = placeholders(c.Text)
		case "BUTTONS":
			for i, b := range c.Buttons {
				switch t := strings.ToUpper(b.Type); {
				case t == "URL" && countVars(b.URL) > 0:
					v.Buttons = append(v.Buttons, ButtonVar{Index: i, SubType: "url", Params: 1})
				case t == "COPY_CODE":
					v.Buttons = append(v.Buttons, ButtonVar{Index: i, SubType: "copy_code", Params: 1})
				}
			}
		}
	}
	return v
}

// Check verifies that t is APPROVED and that tpl fills every variable with
// parameters of the right kind. Errors wrap ErrTemplate.
func (t TemplateInfo) Check(tpl *Template) error {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%w: template %q (%s): %s", ErrTemplate, t.Name, t.Language, fmt.Sprintf(format, a...))
	}
	if !t.Approved() {
		why := ""
		if t.StatusReason != "" {
			why = " (Meta: " + t.StatusReason + ")"
		}
		return fail("status is %s%s; only APPROVED templates can be sent", t.Status, why)
	}
	var header, body *TemplateComponent
	buttons := map[int]*TemplateComponent{}
	for i := range tpl.Components {
		c := &tpl.Components[i]
		switch strings.ToLower(c.Type) {
		case "header":
			header = c
		case "body":
			body = c
		case "button":
			idx, err := strconv.Atoi(c.Index)
			if err != nil {
				return fail("button index %q is not a number", c.Index)
			}
			buttons[idx] = c
		default:
			return fail("unknown component type %q", c.Type)
		}
	}
	count := func(c *TemplateComponent) int {
		if c == nil {
			return 0
		}
		return len(c.Parameters)
	}
	if got := count(header); got != t.Vars.HeaderParams {
		return fail("header needs %d parameter(s), got %d", t.Vars.HeaderParams, got)
	}
	if header != nil && len(header.Parameters) == 1 {
		want := strings.ToLower(t.Vars.HeaderFormat)
		if want == "" {
			want = "text"
		}
		p := header.Parameters[0]
		if p.Type != want {
			return fail("header is %s, parameter is %s", t.Vars.HeaderFormat, p.Type)
		}
		if err := checkParam(p); err != nil {
			return fail("header: %v", err)
		}
	}
	if got := count(body); got != t.Vars.Body {
		return fail("body needs %d variable(s), got %d", t.Vars.Body, got)
	}
	if err := checkNames(t.Vars.Named, t.Vars.HeaderNames, header); err != nil {
		return fail("header: %v", err)
	}
	if err := checkNames(t.Vars.Named, t.Vars.BodyNames, body); err != nil {
		return fail("body: %v", err)
	}
	if body != nil {
		for i, p := range body.Parameters {
			if err := checkParam(p); err != nil {
				return fail("body variable {{%d}}: %v", i+1, err)
			}
		}
	}
	for _, b := range t.Vars.Buttons {
		c := buttons[b.Index]
		switch {
		case b.SubType == "copy_code" && (c == nil || len(c.Parameters) != 1 || c.Parameters[0].CouponCode == ""):
			return fail("copy-code button %d needs its code", b.Index)
		case b.SubType == "copy_code" && utf8.RuneCountInString(c.Parameters[0].CouponCode) > 15:
			return fail("copy-code button %d: the code has more than 15 characters", b.Index)
		case b.SubType == "url" && (c == nil || len(c.Parameters) != b.Params || c.Parameters[0].Text == ""):
			return fail("URL button %d needs its variable", b.Index)
		}
		if c != nil && !strings.EqualFold(c.SubType, b.SubType) {
			return fail("button %d is %s, not %s", b.Index, b.SubType, c.SubType)
		}
	}
	return nil
}

// checkNames: a NAMED template needs each placeholder named exactly once
// by parameter_name; a positional one takes no names.
func checkNames(named bool, want []string, c *TemplateComponent) error {
	if c == nil || len(want) == 0 {
		return nil // media headers and texts without placeholders
	}
	if !named {
		for _, p := range c.Parameters {
			if p.ParameterName != "" {
				return fmt.Errorf("parameter_name %q given, but the template's parameters are positional", p.ParameterName)
			}
		}
		return nil
	}
	seen := map[string]bool{}
	for _, p := range c.Parameters {
		switch {
		case p.ParameterName == "":
			return fmt.Errorf("the template has named parameters (%s): each value needs its parameter_name", strings.Join(want, ", "))
		case !slices.Contains(want, p.ParameterName):
			return fmt.Errorf("{{%s}} is not a parameter of the template (it has %s)", p.ParameterName, strings.Join(want, ", "))
		case seen[p.ParameterName]:
			return fmt.Errorf("{{%s}} is given twice", p.ParameterName)
		}
		seen[p.ParameterName] = true
	}
	return nil
}

// nameParams gives the header and body parameters of a NAMED template
// that have no parameter_name the names of the template's placeholders in
// order (BodyText and HeaderText fill values in that order).
func (t TemplateInfo) nameParams(tpl *Template) {
	if !t.Vars.Named {
		return
	}
	tpl.Components = slices.Clone(tpl.Components)
	for i := range tpl.Components {
		c := &tpl.Components[i]
		var names []string
		switch strings.ToLower(c.Type) {
		case "header":
			names = t.Vars.HeaderNames
		case "body":
			names = t.Vars.BodyNames
		default:
			continue
		}
		if len(names) == 0 || len(c.Parameters) != len(names) {
			continue // media header, or Check explains the mismatch
		}
		ps := slices.Clone(c.Parameters)
		for j := range ps {
			if ps[j].ParameterName == "" {
				ps[j].ParameterName = names[j]
			}
		}
		c.Parameters = ps
	}
}

func checkParam(p Parameter) error {
	switch p.Type {
	case "text":
		if strings.TrimSpace(p.Text) == "" {
			return errors.New("empty text")
		}
	case "currency":
		if p.Currency == nil || p.Currency.FallbackValue == "" || p.Currency.Code == "" {
			return errors.New("currency needs fallback_value and code")
		}
	case "date_time":
		if p.DateTime == nil || p.DateTime.FallbackValue == "" {
			return errors.New("date_time needs fallback_value")
		}
	case "image", "document", "video":
		m := map[string]*Media{"image": p.Image, "document": p.Document, "video": p.Video}[p.Type]
		if m == nil || (m.ID == "") == (m.Link == "") {
			return fmt.Errorf("%s needs exactly one of id or link", p.Type)
		}
	case "location":
		if p.Location == nil {
			return errors.New("location parameter without location")
		}
	default:
		return fmt.Errorf("parameter type %q is not supported", p.Type)
	}
	return nil
}

// templateLister fetches one page of the account's templates.
type templateLister interface {
	TemplatePage(ctx context.Context, after string, limit int) (TemplatePage, error)
}

// Templates is the local copy of the account's message templates, kept in
// the store so the portal and campaigns work while Meta is unreachable.
type Templates struct {
	st       *store.Store
	src      templateLister
	log      *slog.Logger
	now      func() time.Time
	pageSize int
	// onStop is told about errors that must stop the channel (190).
	onStop func(*APIError)

	syncMu sync.Mutex // one sync at a time

	mu       sync.RWMutex
	byKey    map[string]TemplateInfo
	lastSync time.Time
	lastErr  error
}

func newTemplates(st *store.Store, src templateLister, log *slog.Logger, now func() time.Time) (*Templates, error) {
	t := &Templates{st: st, src: src, log: log, now: now, pageSize: 100, byKey: map[string]TemplateInfo{}}
	err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyTemplate, func(key string, val []byte) error {
			var ti TemplateInfo
			if err := json.Unmarshal(val, &ti); err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			t.byKey[key] = ti
			if ti.SyncedAt.After(t.lastSync) {
				t.lastSync = ti.SyncedAt
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load templates: %w", err)
	}
	return t, nil
}

func templateKey(name, lang string) string { return keyTemplate + name + "/" + lang }

// Sync fetches every page of the account's templates and replaces the local
// copy; templates deleted at Meta disappear locally too.
func (t *Templates) Sync(ctx context.Context) error {
	t.syncMu.Lock()
	defer t.syncMu.Unlock()
	now := t.now()
	fresh := map[string]TemplateInfo{}
	after := ""
	for page := 0; ; page++ {
		if page > 1000 {
			return errors.New("template sync: more than 1000 pages; Meta's paging cursor does not advance")
		}
		p, err := t.src.TemplatePage(ctx, after, t.pageSize)
		if err != nil {
			t.setErr(err)
			return fmt.Errorf("template sync: %w", err)
		}
		for _, rt := range p.Data {
			ti := TemplateInfo{ID: rt.ID, Name: rt.Name, Language: rt.Language, Status: rt.Status,
				Category: rt.Category, Components: rt.Components, Vars: VarsOfTemplate(rt), SyncedAt: now}
			if prev, ok := t.Get(rt.Name, rt.Language); ok {
				if prev.Status == rt.Status {
					ti.StatusReason = prev.StatusReason // the listing has no reason
				}
				ti.Quality = prev.Quality
			}
			fresh[templateKey(rt.Name, rt.Language)] = ti
		}
		next := p.Paging.Cursors.After
		// Graph API paging ends when there is no next link or no data;
		// a cursor alone is also present on the last page.
		if len(p.Data) == 0 || next == "" || next == after || (p.Paging.Next == "" && len(p.Data) < t.pageSize) {
			break
		}
		after = next
	}
	t.mu.RLock()
	old := t.byKey
	t.mu.RUnlock()
	err := t.st.Update(func(txn *store.Txn) error {
		for k := range old {
			if _, ok := fresh[k]; !ok {
				if err := txn.Delete([]byte(k)); err != nil {
					return err
				}
			}
		}
		for k, ti := range fresh {
			if err := store.SetJSON(txn, k, ti); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.setErr(err)
		return fmt.Errorf("template sync: store: %w", err)
	}
	t.mu.Lock()
	t.byKey, t.lastSync, t.lastErr = fresh, now, nil
	t.mu.Unlock()
	t.log.Info("whatsapp templates synchronised", "templates", len(fresh))
	return nil
}

func (t *Templates) setErr(err error) {
	t.mu.Lock()
	t.lastErr = err
	t.mu.Unlock()
	var ae *APIError
	if errors.As(err, &ae) && ae.Class() == Stop && t.onStop != nil {
		t.onStop(ae)
	}
}

// apply records a status or category change Meta announced by webhook in
// the local copy (matched by template id, else by name and language).
func (t *Templates) apply(ev AccountEvent) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var keys []string
	for k, ti := range t.byKey {
		if (ev.TemplateID != "" && ti.ID == ev.TemplateID) ||
			(ti.Name == ev.TemplateName && (ev.TemplateLanguage == "" || ti.Language == ev.TemplateLanguage)) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.log.Info("whatsapp template update for a template not yet synchronised; the next sync brings it",
			"template", ev.TemplateName, "language", ev.TemplateLanguage)
		return nil
	}
	changed := map[string]TemplateInfo{}
	for _, k := range keys {
		ti := t.byKey[k]
		if st := ev.TemplateStatus(); st != "" {
			ti.Status = st
			ti.StatusReason = ""
			if st != "APPROVED" {
				ti.StatusReason = strings.Join(nonEmpty(ev.Event, reasonText(ev.Reason), ev.Detail), ", ")
			}
		}
		if ev.Field == "template_category_update" && ev.Category != "" {
			ti.Category = ev.Category
		}
		if ev.Field == "message_template_quality_update" && ev.Quality != "" {
			ti.Quality = ev.Quality
		}
		changed[k] = ti
	}
	err := t.st.Update(func(txn *store.Txn) error {
		for k, ti := range changed {
			if err := store.SetJSON(txn, k, ti); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("template update: %w", err)
	}
	for k, ti := range changed {
		t.byKey[k] = ti
	}
	return nil
}

func reasonText(r string) string {
	if r == "NONE" {
		return ""
	}
	return r
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// Get returns the template name in language lang.
func (t *Templates) Get(name, lang string) (TemplateInfo, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ti, ok := t.byKey[templateKey(name, lang)]
	return ti, ok
}

// List returns every template, sorted by name and language.
func (t *Templates) List() []TemplateInfo {
	t.mu.RLock()
	out := make([]TemplateInfo, 0, len(t.byKey))
	for _, ti := range t.byKey {
		out = append(out, ti)
	}
	t.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Language < out[j].Language
	})
	return out
}

// Approved returns the templates campaigns may use.
func (t *Templates) Approved() []TemplateInfo {
	var out []TemplateInfo
	for _, ti := range t.List() {
		if ti.Approved() {
			out = append(out, ti)
		}
	}
	return out
}

// LastSync returns when the last sync succeeded and the error of the last
// failed one (nil after a success).
func (t *Templates) LastSync() (time.Time, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.lastSync, t.lastErr
}

// Check verifies a template message against the local copy: the template
// exists in that language, is APPROVED and every variable is filled. An
// unknown template triggers one sync first (it may be new).
func (t *Templates) Check(ctx context.Context, tpl *Template) error {
	ti, ok := t.Get(tpl.Name, tpl.Language.Code)
	if !ok {
		if err := t.Sync(ctx); err != nil {
			return err
		}
		if ti, ok = t.Get(tpl.Name, tpl.Language.Code); !ok {
			return fmt.Errorf("%w: no template %q in language %q in the WhatsApp Business Account (create it in WhatsApp Manager, then sync)", ErrTemplate, tpl.Name, tpl.Language.Code)
		}
	}
	ti.nameParams(tpl)
	return ti.Check(tpl)
}

// run syncs every interval until ctx ends.
func (t *Templates) run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if err := t.Sync(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("whatsapp template sync failed; keeping the last copy", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
