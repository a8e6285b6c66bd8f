package campaign

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// render replaces {{name}} with vars[name] ("number" is the recipient's
// number). A placeholder without a value is an error naming it.
func render(text string, number string, vars map[string]string) (string, error) {
	var missing []string
	out := replacePlaceholders(text, func(m string) string {
		k := strings.TrimSpace(m[2 : len(m)-2])
		if k == "number" {
			return number
		}
		if v, ok := vars[k]; ok {
			return v
		}
		missing = append(missing, k)
		return m
	})
	if len(missing) > 0 {
		return out, fmt.Errorf("no value for {{%s}}", strings.Join(missing, "}}, {{"))
	}
	return out, nil
}

// replacePlaceholders is placeholder.ReplaceAllStringFunc(text, f)
// without the regexp machinery (render runs once per message sent):
// a placeholder is "{{", at least one character that is no brace, "}}".
func replacePlaceholders(text string, f func(string) string) string {
	var b strings.Builder
	last := 0 // text[:last] is written (or nothing was replaced yet)
	for i := 0; ; {
		j := strings.Index(text[i:], "{{")
		if j < 0 {
			break
		}
		j += i
		k := j + 2
		for k < len(text) && text[k] != '{' && text[k] != '}' {
			k++
		}
		if k == j+2 || k+1 >= len(text) || text[k] != '}' || text[k+1] != '}' {
			i = j + 1
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(text) + 16)
		}
		b.WriteString(text[last:j])
		b.WriteString(f(text[j : k+2]))
		last, i = k+2, k+2
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

// whenInstant resolves a scheduled When to an instant. Local times that do
// not exist (the hour skipped when clocks go forward) are refused; times
// that exist twice (clocks go back) mean the first occurrence.
func whenInstant(w When, def *time.Location) (time.Time, error) {
	loc := def
	if w.TimeZone != "" {
		l, err := time.LoadLocation(w.TimeZone)
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: time zone %q is unknown (use an IANA name such as Europe/Berlin)", ErrInvalid, w.TimeZone)
		}
		loc = l
	}
	lt, err := time.Parse("2006-01-02 15:04", w.Date+" "+w.Time)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: send time %q %q: use date YYYY-MM-DD and time HH:MM", ErrInvalid, w.Date, w.Time)
	}
	t := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), 0, 0, loc)
	if t.Hour() != lt.Hour() || t.Minute() != lt.Minute() {
		return time.Time{}, fmt.Errorf("%w: %s %s does not exist in %s (the clocks jump forward that night); choose another time", ErrInvalid, w.Date, w.Time, loc)
	}
	// time.Date picks one of two instants for an ambiguous time; take the
	// earlier so "02:30" on the night the clocks go back fires once, first.
	if earlier := t.Add(-time.Hour); earlier.In(loc).Hour() == lt.Hour() && earlier.In(loc).Minute() == lt.Minute() {
		t = earlier
	}
	return t.UTC(), nil
}

// maxTelegramText is sendMessage's limit (Bot API: 1-4096 characters).
const maxTelegramText = 4096

// validateContent checks the content against the channel kind and every
// recipient's variables.
func (e *Engine) validateContent(ctx context.Context, spec *Spec, ch Channel, rs []Recipient) error {
	if spec.Content.Media != nil {
		return e.validateMedia(ctx, spec, rs)
	}
	switch ch.Kind() {
	case message.SMS:
		if spec.Content.WhatsApp != nil {
			return fmt.Errorf("%w: channel %q is an SMS channel; use text, not a WhatsApp template", ErrInvalid, spec.Channel)
		}
		if strings.TrimSpace(spec.Content.Text) == "" {
			return fmt.Errorf("%w: the message text is empty", ErrInvalid)
		}
		if _, err := sms.PlanText(spec.Content.Text); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		for _, r := range rs {
			if r.Status == RExcluded {
				continue
			}
			txt, err := render(spec.Content.Text, r.Number, r.Vars)
			if err != nil {
				return fmt.Errorf("%w: recipient %s: %v (add the column to the import or remove the placeholder)", ErrInvalid, who(r), err)
			}
			if _, err := sms.PlanText(txt); err != nil {
				return fmt.Errorf("%w: recipient %s: %w", ErrInvalid, who(r), err)
			}
		}
	case message.Messenger, message.Instagram:
		return validateMetaText(spec, ch.Kind(), rs)
	case message.Telegram:
		if spec.Content.WhatsApp != nil {
			return fmt.Errorf("%w: channel %q is a Telegram bot; use text, not a WhatsApp template", ErrInvalid, spec.Channel)
		}
		if strings.TrimSpace(spec.Content.Text) == "" {
			return fmt.Errorf("%w: the message text is empty", ErrInvalid)
		}
		for _, r := range rs {
			if r.Status == RExcluded {
				continue
			}
			txt, err := render(spec.Content.Text, r.Number, r.Vars)
			if err != nil {
				return fmt.Errorf("%w: recipient %s: %v (add the column to the import or remove the placeholder)", ErrInvalid, who(r), err)
			}
			// Telegram counts UTF-16 code units: 4096 per message.
			if n := len(utf16.Encode([]rune(txt))); n > maxTelegramText {
				return fmt.Errorf("%w: recipient %s: the message has %d characters; Telegram takes at most %d", ErrInvalid, who(r), n, maxTelegramText)
			}
		}
	case message.Viber, message.VK:
		// Viber's text message takes 7,000 characters, VK's messages.send
		// 4,096 (drivers/viber, drivers/vk).
		limit, name := 7000, "Viber"
		if ch.Kind() == message.VK {
			limit, name = 4096, "VK"
		}
		if spec.Content.WhatsApp != nil {
			return fmt.Errorf("%w: channel %q is a %s channel; use text, not a WhatsApp template", ErrInvalid, spec.Channel, name)
		}
		if strings.TrimSpace(spec.Content.Text) == "" {
			return fmt.Errorf("%w: the message text is empty", ErrInvalid)
		}
		for _, r := range rs {
			if r.Status == RExcluded {
				continue
			}
			txt, err := render(spec.Content.Text, r.Number, r.Vars)
			if err != nil {
				return fmt.Errorf("%w: recipient %s: %v (add the column to the import or remove the placeholder)", ErrInvalid, who(r), err)
			}
			if n := utf8.RuneCountInString(txt); n > limit {
				return fmt.Errorf("%w: recipient %s: the message has %d characters; %s takes at most %d", ErrInvalid, who(r), n, name, limit)
			}
		}
	case message.WhatsApp:
		wa := spec.Content.WhatsApp
		if wa == nil || spec.Content.Text != "" {
			return fmt.Errorf("%w: channel %q is a WhatsApp channel; campaigns send an approved template (set content.whatsapp)", ErrInvalid, spec.Channel)
		}
		if _, ok := ch.(TemplateSender); !ok {
			return fmt.Errorf("%w: channel %q cannot send WhatsApp templates", ErrInvalid, spec.Channel)
		}
		if e.cfg.Templates == nil {
			return fmt.Errorf("%w: the WhatsApp template list is not available", ErrInvalid)
		}
		info, err := e.cfg.Templates.Template(ctx, wa.Template, wa.Language)
		if err != nil {
			return fmt.Errorf("%w: template %q (%s): %w", ErrInvalid, wa.Template, wa.Language, err)
		}
		if !strings.EqualFold(info.Status, "APPROVED") {
			return fmt.Errorf("%w: template %q (%s) is %s; only approved templates can be sent", ErrInvalid, wa.Template, wa.Language, info.Status)
		}
		for _, v := range info.Variables {
			if strings.TrimSpace(wa.Values[v]) == "" {
				return fmt.Errorf("%w: template %q needs a value for {{%s}}", ErrInvalid, wa.Template, v)
			}
		}
		if err := checkHeader(info.Header, wa.Header); err != nil {
			return fmt.Errorf("%w: template %q: %v", ErrInvalid, wa.Template, err)
		}
		if err := checkButtons(wa.Template, info.Buttons, wa.Buttons); err != nil {
			return err
		}
		if err := checkRecipientButtons(wa.Buttons, rs); err != nil {
			return err
		}
		for _, r := range rs {
			if r.Status == RExcluded {
				continue
			}
			for _, v := range info.Variables {
				if _, err := render(wa.Values[v], r.Number, r.Vars); err != nil {
					return fmt.Errorf("%w: recipient %s: template variable {{%s}}: %v", ErrInvalid, who(r), v, err)
				}
			}
		}
	default:
		return fmt.Errorf("%w: channel %q has unknown kind %q", ErrInvalid, spec.Channel, ch.Kind())
	}
	return nil
}

func who(r Recipient) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s (line %d)", r.Number, r.Line)
	}
	return r.Number
}

func checkHeader(kind string, h *Header) error {
	switch strings.ToUpper(kind) {
	case "", "TEXT":
		if h != nil {
			return errors.New("the template has no media or location header; remove the header")
		}
	case "IMAGE", "VIDEO", "DOCUMENT":
		if h == nil || (h.MediaID == "" && h.MediaURL == "") || !strings.EqualFold(h.Type, kind) {
			return fmt.Errorf("the template has a %s header; upload the %s", strings.ToLower(kind), strings.ToLower(kind))
		}
	case "LOCATION":
		if h == nil || h.Location == nil || !strings.EqualFold(h.Type, "location") {
			return errors.New("the template has a location header; paste a Google Maps URL or enter the coordinates")
		}
		l := h.Location
		if l.Latitude < -90 || l.Latitude > 90 || l.Longitude < -180 || l.Longitude > 180 || (l.Latitude == 0 && l.Longitude == 0) {
			return fmt.Errorf("location %v,%v is not a valid coordinate", l.Latitude, l.Longitude)
		}
	default:
		return fmt.Errorf("unsupported header type %q", kind)
	}
	return nil
}

// templateMessage renders a template for one recipient, with the preview
// text for chat logs.
func templateMessage(wa *WhatsAppContent, info *TemplateInfo, r *Recipient) (TemplateMessage, string, error) {
	tm := TemplateMessage{Name: wa.Template, Language: wa.Language, Header: wa.Header}
	vals := map[string]string{}
	names := make([]string, 0, len(wa.Values))
	for k := range wa.Values {
		names = append(names, k)
	}
	if info != nil && len(info.Variables) > 0 {
		names = info.Variables
	} else {
		sort.Strings(names)
	}
	for _, k := range names {
		v, err := render(wa.Values[k], r.Number, r.Vars)
		if err != nil {
			return tm, "", err
		}
		vals[k] = v
		tm.Params = append(tm.Params, Param{Name: k, Value: v})
	}
	bs, err := renderButtons(wa.Buttons, r)
	if err != nil {
		return tm, "", err
	}
	tm.Buttons = bs
	preview := wa.Template
	if info != nil && info.Body != "" {
		preview, _ = render(info.Body, r.Number, vals)
	}
	return tm, preview, nil
}

// PreviewText renders the message one recipient would get (SMS text, or
// the template body with its values) and, for SMS, its plan.
func (e *Engine) PreviewText(ctx context.Context, spec Spec, number string, vars map[string]string) (string, *sms.Plan, error) {
	r := &Recipient{Number: number, Vars: vars}
	if spec.Content.WhatsApp != nil {
		var info *TemplateInfo
		if e.cfg.Templates != nil {
			i, err := e.cfg.Templates.Template(ctx, spec.Content.WhatsApp.Template, spec.Content.WhatsApp.Language)
			if err != nil {
				return "", nil, err
			}
			info = &i
		}
		_, txt, err := templateMessage(spec.Content.WhatsApp, info, r)
		return txt, nil, err
	}
	txt, err := render(spec.Content.Text, number, vars)
	if err != nil {
		return txt, nil, err
	}
	p, err := sms.PlanText(txt)
	return txt, &p, err
}

var (
	atCoords   = regexp.MustCompile(`@(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)`)
	dataCoords = regexp.MustCompile(`!3d(-?\d+(?:\.\d+)?)!4d(-?\d+(?:\.\d+)?)`)
	plainPair  = regexp.MustCompile(`^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$`)
)

// ParseMapsURL reads the place name and coordinates from a Google Maps URL
// (…/maps/place/<name>/@lat,lng,zoom…, …!3dlat!4dlng, ?q=lat,lng,
// ?query=lat,lng, ?ll=lat,lng). The address is not in the URL: the admin
// enters it. Short links (maps.app.goo.gl) need a network lookup and are
// refused with a hint.
func ParseMapsURL(raw string) (Location, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return Location{}, fmt.Errorf("%q is not a URL; copy the address bar of Google Maps", raw)
	}
	if strings.Contains(u.Host, "goo.gl") {
		return Location{}, fmt.Errorf("%q is a short link; open it in the browser and copy the full Google Maps URL", raw)
	}
	if !strings.Contains(u.Host, "google.") {
		return Location{}, fmt.Errorf("%q is not a Google Maps URL", raw)
	}
	var loc Location
	path, _ := url.PathUnescape(u.EscapedPath())
	if i := strings.Index(path, "/place/"); i >= 0 {
		name := strings.SplitN(path[i+len("/place/"):], "/", 2)[0]
		loc.Name = strings.TrimSpace(strings.ReplaceAll(name, "+", " "))
	}
	set := func(lat, lng string) bool {
		a, err1 := strconv.ParseFloat(lat, 64)
		b, err2 := strconv.ParseFloat(lng, 64)
		if err1 != nil || err2 != nil || a < -90 || a > 90 || b < -180 || b > 180 {
			return false
		}
		loc.Latitude, loc.Longitude = a, b
		return true
	}
	// The pin (!3d!4d) is the place itself; @lat,lng is the map's centre.
	if m := dataCoords.FindStringSubmatch(raw); m != nil && set(m[1], m[2]) {
		return loc, nil
	}
	if m := atCoords.FindStringSubmatch(path); m != nil && set(m[1], m[2]) {
		return loc, nil
	}
	q := u.Query()
	for _, k := range []string{"q", "query", "ll", "destination"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		if m := plainPair.FindStringSubmatch(v); m != nil && set(m[1], m[2]) {
			return loc, nil
		}
		if m := atCoords.FindStringSubmatch(v); m != nil && set(m[1], m[2]) {
			if loc.Name == "" {
				loc.Name = strings.TrimSpace(v[:strings.Index(v, "@")])
			}
			return loc, nil
		}
	}
	return Location{}, fmt.Errorf("no coordinates in %q; use the URL of a place (…/maps/place/…/@52.51,13.37…)", raw)
}
