package rules

import (
	"context"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

// Contact is what pbxgate knows about a sender, for the placeholders.
type Contact struct {
	ID       string            `json:"id"`
	Remark   string            `json:"remark,omitempty"`
	Nickname string            `json:"nickname,omitempty"`
	Fields   map[string]string `json:"fields,omitempty"`
}

// Contacts looks contacts up by number (the portal's contact list or a
// phonebook). Optional.
type Contacts interface {
	Contact(ctx context.Context, number string) (Contact, bool, error)
}

// Placeholder names usable as {NAME} in texts, subjects and e-mail bodies;
// the HTTP forward sends them as JSON keys. Contact fields are {field}
// (their own names, any case).
const (
	PhID            = "ID"            // conversation: channel/number
	PhMsgID         = "MSGID"         // the inbound message's ID
	PhMsg           = "MSG"           // the text
	PhContactID     = "CONTACTID"     // contact ID, or the number when unknown
	PhContactRemark = "CONTACTREMARK" // the contact's note
	PhMSISDN        = "MSISDN"        // sender's number
	PhNickname      = "NICKNAME"      // WhatsApp profile name or contact nickname
	PhTimestamp     = "TIMESTAMP"     // YYYY-MM-DD HH:MM:SS in the configured zone
	PhUTC           = "UTC"           // that zone's UTC offset, e.g. +01:00
	PhMediaType     = "MEDIATYPE"     // text, image, audio, video, document…
	PhInfoCode      = "INFOCODE"      // channel info code; empty for received messages
	PhChannel       = "CHANNEL"
	PhKind          = "KIND"
	PhReceiver      = "RECEIVER"
)

// Vars are the placeholder values of one message.
type Vars struct {
	Values map[string]string // built-in placeholders
	Fields map[string]string // contact fields
}

func buildVars(in message.Inbound, ct Contact, loc *time.Location) Vars {
	t := in.At.In(loc)
	media := in.MediaType
	if media == "" {
		media = "text"
	}
	contactID := ct.ID
	if contactID == "" {
		contactID = in.From
	}
	nick := in.Name
	if ct.Nickname != "" {
		nick = ct.Nickname
	}
	v := Vars{Values: map[string]string{
		PhID: in.Channel + "/" + in.From, PhMsgID: in.ID, PhMsg: in.Text,
		PhContactID: contactID, PhContactRemark: ct.Remark, PhMSISDN: in.From,
		PhNickname: nick, PhTimestamp: t.Format(time.DateTime), PhUTC: t.Format("-07:00"),
		PhMediaType: media, PhInfoCode: "", PhChannel: in.Channel, PhKind: string(in.Kind),
		PhReceiver: in.Receiver,
	}, Fields: map[string]string{}}
	for k, val := range ct.Fields {
		v.Fields[strings.ToLower(k)] = val
	}
	return v
}

// Render replaces {NAME} placeholders in tmpl. Built-in names are upper
// case; anything else is looked up among the contact fields ignoring case.
// Unknown placeholders stay as written, so a typo is visible in the result.
func (v Vars) Render(tmpl string) string {
	if !strings.Contains(tmpl, "{") {
		return tmpl
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			break
		}
		name := tmpl[i+1 : i+j]
		val, ok := v.Values[name]
		if !ok {
			val, ok = v.Fields[strings.ToLower(name)]
		}
		b.WriteString(tmpl[:i])
		if ok {
			b.WriteString(val)
		} else {
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
	b.WriteString(tmpl)
	return b.String()
}

// flat is the HTTP forward payload: every placeholder as a key, contact
// fields under FIELDS.
func (v Vars) flat() map[string]any {
	m := make(map[string]any, len(v.Values)+1)
	for k, val := range v.Values {
		m[k] = val
	}
	m["FIELDS"] = v.Fields
	return m
}
