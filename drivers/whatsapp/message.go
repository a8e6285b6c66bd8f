package whatsapp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Message types pbxgate sends.
const (
	TypeText     = "text"
	TypeImage    = "image"
	TypeDocument = "document"
	TypeVideo    = "video"
	TypeAudio    = "audio"
	TypeLocation = "location"
	TypeTemplate = "template"
	// TypeReaction reacts to a message with an emoji ("" removes it).
	TypeReaction = "reaction"
	// TypeInteractive is a message with reply buttons or a list.
	TypeInteractive = "interactive"
)

// Limits Meta's Message schema sets on interactive messages.
const (
	maxReplyButtons    = 3
	maxButtonTitle     = 20
	maxButtonID        = 256
	maxListSections    = 10
	maxListRows        = 10 // in all sections together
	maxRowTitle        = 24
	maxRowID           = 200
	maxRowDesc         = 72
	maxHeaderText      = 60
	maxSectionTitle    = 24
	maxInteractiveBody = 1024 // body text
	maxFooterText      = 60
)

// Reaction is an emoji on an earlier message (by wamid).
type Reaction struct {
	MessageID string `json:"message_id"`
	Emoji     string `json:"emoji"`
}

// Interactive is a reply-button ("button"), list ("list") or
// call-to-action URL ("cta_url") message.
type Interactive struct {
	Type   string             `json:"type"`
	Header *InteractiveHeader `json:"header,omitempty"`
	Body   *InteractiveText   `json:"body,omitempty"`
	Footer *InteractiveText   `json:"footer,omitempty"`
	Action InteractiveAction  `json:"action"`
}

// InteractiveHeader is a text header (type "text").
type InteractiveHeader struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// InteractiveText is a body or footer.
type InteractiveText struct {
	Text string `json:"text"`
}

// InteractiveAction holds the reply buttons, or the list's button label
// and sections.
type InteractiveAction struct {
	Buttons  []ReplyButton `json:"buttons,omitempty"`
	Button   string        `json:"button,omitempty"`
	Sections []ListSection `json:"sections,omitempty"`
	// Name and Parameters: a call-to-action URL button ("cta_url").
	Name       string     `json:"name,omitempty"`
	Parameters *CTAParams `json:"parameters,omitempty"`
}

// CTAParams is a call-to-action URL button: the label shown and the URL
// it opens (Meta's "Interactive Call-to-Action URL Button Messages").
type CTAParams struct {
	DisplayText string `json:"display_text"`
	URL         string `json:"url"`
}

// ReplyButton is one reply button; its ID comes back in the user's
// button_reply.
type ReplyButton struct {
	Type  string     `json:"type"` // reply
	Reply ReplyTitle `json:"reply"`
}

// ReplyTitle is a button's or row's id and title.
type ReplyTitle struct {
	ID    string `json:"id"`
	Title string `json:"title"`
}

// ListSection is one section of a list message.
type ListSection struct {
	Title string    `json:"title,omitempty"`
	Rows  []ListRow `json:"rows"`
}

// ListRow is one choice of a list; its ID comes back in list_reply.
type ListRow struct {
	ID          string `json:"id"`
	Title       string `json:"title"`
	Description string `json:"description,omitempty"`
}

// ReactionMessage reacts with emoji to message wamid ("" removes it).
func ReactionMessage(wamid, emoji string) Message {
	return Message{Type: TypeReaction, Reaction: &Reaction{MessageID: wamid, Emoji: emoji}}
}

// ButtonsMessage offers up to three reply buttons under body text; each
// button is id → title.
func ButtonsMessage(body string, buttons ...ReplyTitle) Message {
	in := &Interactive{Type: "button", Body: &InteractiveText{Text: body}}
	for _, b := range buttons {
		in.Action.Buttons = append(in.Action.Buttons, ReplyButton{Type: "reply", Reply: b})
	}
	return Message{Type: TypeInteractive, Interactive: in}
}

// ListMessage offers a list behind the button label.
func ListMessage(body, button string, sections ...ListSection) Message {
	return Message{Type: TypeInteractive, Interactive: &Interactive{Type: "list", Body: &InteractiveText{Text: body},
		Action: InteractiveAction{Button: button, Sections: sections}}}
}

// CTAURLMessage offers one button labelled label that opens link (an
// http or https URL) under body text, instead of the raw link.
func CTAURLMessage(body, label, link string) Message {
	return Message{Type: TypeInteractive, Interactive: &Interactive{Type: "cta_url", Body: &InteractiveText{Text: body},
		Action: InteractiveAction{Name: "cta_url", Parameters: &CTAParams{DisplayText: label, URL: link}}}}
}

// CheckCTAURL says what is wrong with a call-to-action button's label and
// link, or nil: a label of 1 to 20 characters, an absolute http(s) URL.
func CheckCTAURL(label, link string) error {
	if n := utf8.RuneCountInString(strings.TrimSpace(label)); n == 0 || n > maxButtonTitle {
		return fmt.Errorf("the button label has 1 to %d characters, not %d", maxButtonTitle, n)
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("the button's link %q is not an http or https URL", link)
	}
	return nil
}

// MaxTextLen is Meta's limit for a text body, in characters.
const MaxTextLen = 4096

// MaxCallbackData is Meta's limit for biz_opaque_callback_data.
const MaxCallbackData = 512

// Message is one WhatsApp message to send: a free-form text, media or
// location (only inside the customer-service window) or a template.
type Message struct {
	Type       string    `json:"type"`
	Text       string    `json:"text,omitempty"`
	PreviewURL bool      `json:"preview_url,omitempty"`
	Media      *Media    `json:"media,omitempty"` // image, document, video, audio
	Location   *Location `json:"location,omitempty"`
	Template   *Template `json:"template,omitempty"`
	// Reaction and Interactive: see ReactionMessage, ButtonsMessage and
	// ListMessage.
	Reaction    *Reaction    `json:"reaction,omitempty"`
	Interactive *Interactive `json:"interactive,omitempty"`
	// ReplyTo is the wamid of the message this one answers.
	ReplyTo string `json:"reply_to,omitempty"`
}

// Text returns a text message.
func Text(body string) Message { return Message{Type: TypeText, Text: body} }

// TemplateMessage returns a template message in language lang (e.g. "de",
// "en_US") with the given filled components.
func TemplateMessage(name, lang string, components ...TemplateComponent) Message {
	return Message{Type: TypeTemplate, Template: &Template{Name: name, Language: TemplateLanguage{Code: lang}, Components: components}}
}

// BodyText fills the body variables {{1}}, {{2}} … in order.
func BodyText(values ...string) TemplateComponent {
	c := TemplateComponent{Type: "body"}
	for _, v := range values {
		c.Parameters = append(c.Parameters, Parameter{Type: "text", Text: v})
	}
	return c
}

// HeaderText fills a TEXT header's variable.
func HeaderText(value string) TemplateComponent {
	return TemplateComponent{Type: "header", Parameters: []Parameter{{Type: "text", Text: value}}}
}

// HeaderMedia fills an IMAGE, DOCUMENT or VIDEO header; kind is "image",
// "document" or "video".
func HeaderMedia(kind string, m Media) TemplateComponent {
	p := Parameter{Type: kind}
	switch kind {
	case TypeImage:
		p.Image = &m
	case TypeDocument:
		p.Document = &m
	case TypeVideo:
		p.Video = &m
	}
	return TemplateComponent{Type: "header", Parameters: []Parameter{p}}
}

// HeaderLocation fills a LOCATION header.
func HeaderLocation(l Location) TemplateComponent {
	return TemplateComponent{Type: "header", Parameters: []Parameter{{Type: "location", Location: &l}}}
}

// QuickReplyButton sets the payload returned when button index is tapped.
func QuickReplyButton(index int, payload string) TemplateComponent {
	return TemplateComponent{Type: "button", SubType: "quick_reply", Index: fmt.Sprint(index),
		Parameters: []Parameter{{Type: "payload", Payload: payload}}}
}

// URLButton fills the variable suffix of a dynamic URL button.
func URLButton(index int, suffix string) TemplateComponent {
	return TemplateComponent{Type: "button", SubType: "url", Index: fmt.Sprint(index),
		Parameters: []Parameter{{Type: "text", Text: suffix}}}
}

// CopyCodeButton fills a copy-code button (a coupon the user copies; at
// most 15 characters).
func CopyCodeButton(index int, code string) TemplateComponent {
	return TemplateComponent{Type: "button", SubType: "copy_code", Index: fmt.Sprint(index),
		Parameters: []Parameter{{Type: "coupon_code", CouponCode: code}}}
}

// freeForm reports whether m needs an open customer-service window.
func (m Message) freeForm() bool { return m.Type != TypeTemplate }

// summary says what m is where it has no text of its own, for the message
// log: "template hello_world (de): Anna, 12.05.", "image: caption",
// "location: name"; "" for a text message.
func (m Message) summary() string {
	switch {
	case m.Type == TypeText:
		return ""
	case m.Template != nil:
		s := "template " + m.Template.Name + " (" + m.Template.Language.Code + ")"
		var vals []string
		for _, c := range m.Template.Components {
			if c.Type != "body" {
				continue
			}
			for _, p := range c.Parameters {
				if p.Text != "" {
					vals = append(vals, p.Text)
				}
			}
		}
		if len(vals) > 0 {
			s += ": " + strings.Join(vals, ", ")
		}
		return s
	case m.Media != nil && m.Media.Caption != "":
		return m.Type + ": " + m.Media.Caption
	case m.Location != nil && m.Location.Name != "":
		return m.Type + ": " + m.Location.Name
	case m.Reaction != nil:
		if m.Reaction.Emoji == "" {
			return "reaction removed"
		}
		return "reaction " + m.Reaction.Emoji
	case m.Interactive != nil:
		var opts []string
		for _, b := range m.Interactive.Action.Buttons {
			opts = append(opts, b.Reply.Title)
		}
		for _, s := range m.Interactive.Action.Sections {
			for _, r := range s.Rows {
				opts = append(opts, r.Title)
			}
		}
		if p := m.Interactive.Action.Parameters; p != nil {
			opts = append(opts, p.DisplayText+" → "+p.URL)
		}
		s := ""
		if m.Interactive.Body != nil {
			s = m.Interactive.Body.Text
		}
		return "interactive: " + s + " [" + strings.Join(opts, " | ") + "]"
	}
	return m.Type
}

// normalizeTo turns "+49 171 1234567" into "491711234567"; business-scoped
// user ids (not all digits) pass unchanged.
func normalizeTo(to string) string {
	d := strings.Map(func(r rune) rune {
		switch r {
		case '+', ' ', '-', '(', ')', '.':
			return -1
		}
		return r
	}, to)
	for _, r := range d {
		if r < '0' || r > '9' {
			return strings.TrimSpace(to)
		}
	}
	return d
}

// request builds the Cloud API body for m to recipient to, or explains
// what is missing (wrapping ErrInvalidMessage).
func (m Message) request(to, callback string) (*SendRequest, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidMessage, fmt.Sprintf(format, a...))
	}
	if to == "" {
		return nil, bad("no recipient")
	}
	if len(callback) > MaxCallbackData {
		return nil, bad("message id longer than %d characters", MaxCallbackData)
	}
	r := &SendRequest{MessagingProduct: "whatsapp", RecipientType: "individual", To: to, Type: m.Type, BizOpaqueCallbackData: callback}
	if m.ReplyTo != "" {
		r.Context = &ReplyContext{MessageID: m.ReplyTo}
	}
	media := func() (*Media, error) {
		if m.Media == nil || (m.Media.ID == "") == (m.Media.Link == "") {
			return nil, bad("%s message needs exactly one of media id or link", m.Type)
		}
		md := *m.Media
		if m.Type != TypeDocument && md.Filename != "" {
			return nil, bad("only documents have a filename")
		}
		if m.Type == TypeAudio && md.Caption != "" {
			return nil, bad("audio messages have no caption")
		}
		return &md, nil
	}
	var err error
	switch m.Type {
	case TypeText:
		if strings.TrimSpace(m.Text) == "" {
			return nil, bad("empty text")
		}
		if n := utf8.RuneCountInString(m.Text); n > MaxTextLen {
			return nil, bad("text has %d characters, WhatsApp allows %d", n, MaxTextLen)
		}
		r.Text = &TextBody{Body: m.Text, PreviewURL: m.PreviewURL}
	case TypeImage:
		r.Image, err = media()
	case TypeDocument:
		r.Document, err = media()
	case TypeVideo:
		r.Video, err = media()
	case TypeAudio:
		r.Audio, err = media()
	case TypeLocation:
		if m.Location == nil {
			return nil, bad("location message without location")
		}
		l := *m.Location
		if l.Latitude < -90 || l.Latitude > 90 || l.Longitude < -180 || l.Longitude > 180 {
			return nil, bad("location %f,%f is out of range", l.Latitude, l.Longitude)
		}
		r.Location = &l
	case TypeTemplate:
		if m.Template == nil || m.Template.Name == "" || m.Template.Language.Code == "" {
			return nil, bad("template message needs a template name and language")
		}
		t := *m.Template
		r.Template = &t
	case TypeReaction:
		if m.Reaction == nil || m.Reaction.MessageID == "" {
			return nil, bad("reaction without the message it reacts to")
		}
		if m.ReplyTo != "" {
			return nil, bad("a reaction names its message itself, it cannot also reply")
		}
		rc := *m.Reaction
		r.Reaction = &rc
	case TypeInteractive:
		if err := m.Interactive.check(); err != nil {
			return nil, bad("%v", err)
		}
		in := *m.Interactive
		r.Interactive = &in
	default:
		return nil, bad("unsupported type %q (text, image, document, video, audio, location, template, reaction, interactive)", m.Type)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// check applies the rules of Meta's InteractiveObject/ActionObject schema
// to a button or list message, so a bad one is refused before it is sent.
func (in *Interactive) check() error {
	long := func(what, s string, n int) error {
		if c := utf8.RuneCountInString(s); c > n {
			return fmt.Errorf("%s %q has %d characters, WhatsApp allows %d", what, s, c, n)
		}
		return nil
	}
	if in == nil {
		return errors.New("interactive message without content")
	}
	if in.Body == nil || strings.TrimSpace(in.Body.Text) == "" {
		return errors.New("interactive message needs a body text")
	}
	if err := long("body", in.Body.Text, maxInteractiveBody); err != nil {
		return err
	}
	if in.Footer != nil {
		if err := long("footer", in.Footer.Text, maxFooterText); err != nil {
			return err
		}
	}
	if in.Header != nil {
		if in.Header.Type != "text" || in.Header.Text == "" {
			return errors.New("only a text header is supported")
		}
		if err := long("header", in.Header.Text, maxHeaderText); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	uniq := func(id, title string, maxID, maxTitle int) error {
		if strings.TrimSpace(id) != id || id == "" || strings.TrimSpace(title) == "" {
			return fmt.Errorf("choice %q needs an id without leading or trailing spaces and a title", title)
		}
		if seen["id:"+id] || seen["t:"+title] {
			return fmt.Errorf("choice %q/%q is not unique", id, title)
		}
		seen["id:"+id], seen["t:"+title] = true, true
		if err := long("id", id, maxID); err != nil {
			return err
		}
		return long("title", title, maxTitle)
	}
	if in.Type != "cta_url" && (in.Action.Name != "" || in.Action.Parameters != nil) {
		return fmt.Errorf("a %s message takes no call-to-action button", in.Type)
	}
	switch in.Type {
	case "cta_url":
		if in.Action.Name != "cta_url" || in.Action.Parameters == nil {
			return errors.New("a call-to-action message needs its button (name cta_url, label and URL)")
		}
		if len(in.Action.Buttons) > 0 || in.Action.Button != "" || len(in.Action.Sections) > 0 {
			return errors.New("a call-to-action message takes no reply buttons or list")
		}
		if err := CheckCTAURL(in.Action.Parameters.DisplayText, in.Action.Parameters.URL); err != nil {
			return err
		}
	case "button":
		if n := len(in.Action.Buttons); n < 1 || n > maxReplyButtons {
			return fmt.Errorf("%d reply buttons; WhatsApp allows 1 to %d", n, maxReplyButtons)
		}
		if in.Action.Button != "" || len(in.Action.Sections) > 0 {
			return errors.New("reply buttons take no list")
		}
		for _, b := range in.Action.Buttons {
			if b.Type != "reply" {
				return fmt.Errorf("button type %q; only reply", b.Type)
			}
			if err := uniq(b.Reply.ID, b.Reply.Title, maxButtonID, maxButtonTitle); err != nil {
				return err
			}
		}
	case "list":
		if strings.TrimSpace(in.Action.Button) == "" {
			return errors.New("a list needs the label of its button")
		}
		if err := long("list button", in.Action.Button, maxButtonTitle); err != nil {
			return err
		}
		if len(in.Action.Buttons) > 0 {
			return errors.New("a list takes no reply buttons")
		}
		if n := len(in.Action.Sections); n < 1 || n > maxListSections {
			return fmt.Errorf("%d sections; WhatsApp allows 1 to %d", n, maxListSections)
		}
		rows := 0
		for _, s := range in.Action.Sections {
			if len(in.Action.Sections) > 1 && s.Title == "" {
				return errors.New("with several sections each needs a title")
			}
			if err := long("section title", s.Title, maxSectionTitle); err != nil {
				return err
			}
			if len(s.Rows) == 0 {
				return fmt.Errorf("section %q has no rows", s.Title)
			}
			for _, r := range s.Rows {
				rows++
				if err := uniq(r.ID, r.Title, maxRowID, maxRowTitle); err != nil {
					return err
				}
				if err := long("row description", r.Description, maxRowDesc); err != nil {
					return err
				}
			}
		}
		if rows > maxListRows {
			return fmt.Errorf("%d rows; WhatsApp allows %d in all sections", rows, maxListRows)
		}
	default:
		return fmt.Errorf("interactive type %q; pbxgate sends button, list and cta_url", in.Type)
	}
	return nil
}
