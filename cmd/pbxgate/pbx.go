package main

import (
	"context"
	"fmt"

	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/pbx"
	"github.com/pbxgate/pbxgate/pbx/phonebook"
)

// pbxSide is the PBX connection and the chat sessions it carries.
type pbxSide struct {
	gw       *pbx.Gateway
	sessions *session.Manager
}

// startPBX joins the PBX over SIP (sip.enabled) and starts the session
// manager that routes conversations to extensions and message queues.
// Replies leave on the session's channel: an SMS channel of the pool or the
// WhatsApp number.
func (d *daemon) startPBX(ctx context.Context, pool *smspool.Pool, wa session.Sender, waName string) (*pbxSide, error) {
	sc := d.cfg.SIP
	gw, err := pbx.New(pbx.Config{SIP: sc, Logger: d.log.With("component", "sip"), Registerer: d.reg,
		Region: d.cfg.Region.DefaultCountry})
	if err != nil {
		return nil, err
	}
	sms := map[string]bool{}
	for _, c := range d.cfg.Channels {
		sms[c.Name] = true
	}
	chans, err := session.ChannelsFromConfig(sc.Sessions, func(name string) (message.Kind, session.Sender, bool) {
		switch {
		case sms[name]:
			return message.SMS, smsSessionSender{name: name, pool: pool, mms: d.sms.mms}, true
		case wa != nil && (name == waName || d.whatsappNumber(name)):
			return message.WhatsApp, wa, true
		case d.tg != nil && name == d.tg.Name():
			return message.Telegram, d.tg, true
		}
		if k, s, ok := d.vv.sessionChannel(name); ok { // viber.go
			return k, s, true
		}
		if ch, ok := d.metaSession(name); ok {
			return ch.Kind(), ch, true
		}
		return "", nil, false
	})
	if err != nil {
		return nil, fmt.Errorf("sip.sessions: %w", err)
	}
	queues, err := session.QueuesFromConfig(sc.Sessions, d.cfg.Location())
	if err != nil {
		return nil, fmt.Errorf("sip.sessions.queues: %w", err)
	}
	var books phonebook.Books
	for _, pb := range sc.RemotePhonebooks {
		r, err := phonebook.New(phonebook.Config{URL: pb.URL.Reveal(), Format: pb.Format, Refresh: pb.Refresh,
			Region: d.cfg.Region.DefaultCountry, Logger: d.log.With("component", "phonebook")})
		if err != nil {
			return nil, fmt.Errorf("sip.remote_phonebooks: %w", err)
		}
		books = append(books, r)
		d.component("phonebook", r.Run)
	}
	var blocks []session.TextBlock
	for _, b := range sc.Sessions.TextBlocks {
		blocks = append(blocks, session.TextBlock{Name: b.Name, Text: b.Text})
	}
	mgr, err := session.New(session.Config{
		Store: d.store, Deliverer: gw, Channels: chans, Queues: queues, Names: books,
		DefaultChannel: sc.Sessions.DefaultChannel, PortalURL: d.cfg.HTTP.PublicURL, TextBlocks: blocks,
		MediaDir: sessionMediaDir(d.cfg.DataDir), // files of chat replies sent as MMS (docs/mms.md)
		Logger:   d.log.With("component", "sessions"), Registerer: d.reg, Replicator: d.sessionReplicator(),
	})
	if err != nil {
		return nil, err
	}
	gw.SetSessions(mgr)
	gw.HoldWhen(d.disk) // 503 + Retry-After while the data disk is low
	d.component("sessions", mgr.Run)
	d.component("sip", gw.Run)
	return &pbxSide{gw: gw, sessions: mgr}, nil
}
