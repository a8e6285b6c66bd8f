package main

import (
	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/drivers/viber"
	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/inbound"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/rules"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web"
)

// How the parts fit, checked at compile time: the drivers implement the
// gateway's interfaces themselves (their campaign contracts are asserted
// in the driver packages), the gateway's flow components implement the
// drivers' sinks, and both implement what the portal asks for. main only
// wires them.
var (
	// Channels store what arrives in the inbox and report statuses to
	// the router.
	_ smspool.Inbox       = (*inbox.Inbox)(nil)
	_ whatsapp.Inbox      = (*inbox.Inbox)(nil)
	_ smspool.Sink        = (*events.Router)(nil)
	_ whatsapp.StatusSink = (*events.Router)(nil)
	// The SMS pool's outbox hands status events over in batches, each
	// stored by the message log and the campaign engine in one
	// transaction.
	_ smspool.BatchSink   = (*events.Router)(nil)
	_ events.BatchJournal = (*msglog.Log)(nil)
	_ events.BatchHandler = (*campaign.Engine)(nil)
	// The inbound pipeline consumes the inbox and answers through the
	// channels.
	_ inbox.Consumer             = (*inbound.Pipeline)(nil)
	_ inbound.SMSQueue           = (*smspool.Pool)(nil)
	_ inbound.TextSender         = (*whatsapp.Channel)(nil)
	_ inbound.Sessions           = (*session.Manager)(nil)
	_ rules.Router               = (*session.Manager)(nil)
	_ session.Sender             = (*whatsapp.Channel)(nil)
	_ telegram.Inbox             = (*inbox.Inbox)(nil)
	_ telegram.StatusSink        = (*events.Router)(nil)
	_ telegram.OptOuts           = (*consent.Consent)(nil)
	_ inbound.TextSender         = (*telegram.Channel)(nil)
	_ session.Sender             = (*telegram.Channel)(nil)
	_ campaign.Channel           = (*telegram.Channel)(nil)
	_ campaign.ResendSafety      = (*telegram.Channel)(nil)
	_ campaign.AddressNormalizer = (*telegram.Channel)(nil)
	_ metamsg.Inbox              = (*inbox.Inbox)(nil)
	_ metamsg.StatusSink         = (*events.Router)(nil)
	_ metamsg.OptOuts            = (*consent.Consent)(nil)
	_ inbound.TextSender         = (*metamsg.Channel)(nil)
	_ session.Sender             = (*metamsg.Channel)(nil)
	_ web.TemplateSource         = (*whatsapp.Channel)(nil)
	_ web.MediaUploader          = (*whatsapp.Channel)(nil)
	_ web.MediaSource            = whatsapp.MediaDir{}
)

// Viber and VK fit like Telegram.
var (
	_ viber.Inbox        = (*inbox.Inbox)(nil)
	_ viber.StatusSink   = (*events.Router)(nil)
	_ viber.OptOuts      = (*consent.Consent)(nil)
	_ inbound.TextSender = (*viber.Channel)(nil)
	_ session.Sender     = (*viber.Channel)(nil)
	_ vk.Inbox           = (*inbox.Inbox)(nil)
	_ vk.StatusSink      = (*events.Router)(nil)
	_ vk.OptOuts         = (*consent.Consent)(nil)
	_ inbound.TextSender = (*vk.Channel)(nil)
	_ session.Sender     = (*vk.Channel)(nil)
	_ web.ViberSetup     = viberPortal{}
	_ web.VKSetup        = vkPortal{}
)
