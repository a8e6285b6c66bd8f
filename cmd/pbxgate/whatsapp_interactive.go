package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// waInteractive sends the automation's answers with reply buttons or a
// list (rules.InteractiveReplier) through the WhatsApp channel, from the
// number the contact wrote to (a free-form message; see whatsapp.Numbers).
type waInteractive struct{ wa *whatsapp.Channel }

// interactiveReplier is the automation's interactive replier, or nil
// without WhatsApp (answers then go out as text with numbered choices).
func (d *daemon) interactiveReplier() rules.InteractiveReplier {
	if d.wa == nil {
		return nil
	}
	return waInteractive{d.wa}
}

// ReplyInteractive builds Meta's interactive button, list or
// call-to-action URL message.
func (w waInteractive) ReplyInteractive(ctx context.Context, in message.Inbound, text string, ia rules.Interactive) error {
	var m whatsapp.Message
	if ia.CTA != nil {
		m = whatsapp.CTAURLMessage(text, ia.CTA.Title, ia.CTA.URL)
	} else if len(ia.Rows) > 0 {
		rows := make([]whatsapp.ListRow, 0, len(ia.Rows))
		for _, r := range ia.Rows {
			rows = append(rows, whatsapp.ListRow{ID: r.ID, Title: r.Title, Description: r.Description})
		}
		m = whatsapp.ListMessage(text, ia.ListButton, whatsapp.ListSection{Rows: rows})
	} else {
		buttons := make([]whatsapp.ReplyTitle, 0, len(ia.Buttons))
		for _, b := range ia.Buttons {
			buttons = append(buttons, whatsapp.ReplyTitle{ID: b.ID, Title: b.Title})
		}
		m = whatsapp.ButtonsMessage(text, buttons...)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	_, err := w.wa.SendMessage(ctx, "reply-"+in.ID+"-"+hex.EncodeToString(r[:]), in.From, m)
	return err
}
