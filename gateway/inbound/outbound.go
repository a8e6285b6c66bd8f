package inbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// SMSQueue queues an SMS (drivers/smspool.Pool).
type SMSQueue interface {
	Enqueue(ctx context.Context, m message.Outbound) error
}

// TextSender sends free text on a chat channel (drivers/whatsapp.Channel).
type TextSender interface {
	SendText(ctx context.Context, id, to, text string) error
}

// Campaigns copies a prepared campaign for one contact (the campaign
// engine).
type Campaigns interface {
	Get(ctx context.Context, id string) (campaign.Campaign, error)
	Create(ctx context.Context, spec campaign.Spec, rs []recipients.Recipient) (campaign.Campaign, error)
}

// Outbound sends what the rules decide — replies, SMS forwards, keyword
// campaigns — through the SMS pool, the WhatsApp number and the campaign
// engine, all built before it.
type Outbound struct {
	SMS       SMSQueue   // required
	WhatsApp  TextSender // nil: no WhatsApp number
	Telegram  TextSender // nil: no Telegram bot
	Viber     TextSender // nil: no Viber bot
	VK        TextSender // nil: no VK community
	Campaigns Campaigns  // required for keyword campaigns
	// DefaultSMS is the SMS channel of forwards of messages that came in
	// on WhatsApp.
	DefaultSMS string

	// Chats answer on further chat channels by kind (Messenger,
	// Instagram); a kind not here has no channel.
	Chats map[message.Kind]TextSender
}

var (
	_ rules.Replier         = (*Outbound)(nil)
	_ rules.SMSSender       = (*Outbound)(nil)
	_ rules.CampaignStarter = (*Outbound)(nil)
)

// ErrNoChannel: the reply's channel is not configured.
var ErrNoChannel = errors.New("no channel to answer on")

// Reply answers the contact on the channel (and, for SMS, the SIM) the
// message came in on.
func (o *Outbound) Reply(ctx context.Context, in message.Inbound, text string) error {
	id := "reply-" + in.ID + "-" + randomID()
	if in.Kind == message.WhatsApp {
		if o.WhatsApp == nil {
			return ErrNoChannel
		}
		return o.WhatsApp.SendText(ctx, id, in.From, text)
	}
	if in.Kind == message.Telegram {
		if o.Telegram == nil {
			return ErrNoChannel
		}
		return o.Telegram.SendText(ctx, id, in.From, text)
	}
	if in.Kind == message.Viber || in.Kind == message.VK {
		s := o.Viber
		if in.Kind == message.VK {
			s = o.VK
		}
		if s == nil {
			return ErrNoChannel
		}
		return s.SendText(ctx, id, in.From, text)
	}
	if in.Kind != message.SMS && in.Kind != "" {
		if s, ok := o.Chats[in.Kind]; ok {
			return s.SendText(ctx, id, in.From, text)
		}
		if in.Kind == message.Messenger || in.Kind == message.Instagram {
			return ErrNoChannel
		}
	}
	return o.SMS.Enqueue(ctx, message.Outbound{ID: id, Channel: in.Channel, Sender: in.Receiver, To: in.From, Text: text})
}

// SendSMS sends an SMS forward; its ID is stable across the rule's retries.
func (o *Outbound) SendSMS(ctx context.Context, m message.Outbound) error {
	if m.Channel == "" {
		m.Channel = o.DefaultSMS
	}
	return o.SMS.Enqueue(ctx, m)
}

// StartForContact starts a copy of a prepared campaign for one contact.
func (o *Outbound) StartForContact(ctx context.Context, id string, in message.Inbound, vars map[string]string) error {
	if o.Campaigns == nil {
		return permanent{errors.New("keyword campaigns are not available")}
	}
	tpl, err := o.Campaigns.Get(ctx, id)
	if err != nil {
		return err
	}
	spec := tpl.Spec
	spec.Name = tpl.Spec.Name + " → " + in.From + " " + in.At.Format("2006-01-02 15:04:05")
	spec.When = campaign.When{Kind: "now"}
	_, err = o.Campaigns.Create(ctx, spec, []recipients.Recipient{{Number: in.From, Vars: vars}})
	if errors.Is(err, campaign.ErrInvalid) {
		return permanent{err} // e.g. a placeholder this contact has no value for
	}
	return err
}

// permanent marks an error a retry cannot cure (the rules engine asks).
type permanent struct{ error }

func (permanent) Permanent() bool { return true }
func (p permanent) Unwrap() error { return p.error }

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
