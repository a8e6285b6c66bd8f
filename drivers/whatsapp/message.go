package whatsapp

import (
	"fmt"
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
)

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
	default:
		return nil, bad("unsupported type %q (text, image, document, video, audio, location, template)", m.Type)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}
