package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/pbxgate/pbxgate/drivers/metamsg"
	"github.com/pbxgate/pbxgate/drivers/metamsg/metaemu"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/inbound"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/web"
)

// metaSide is a Facebook Page (messenger) or an Instagram account
// (instagram) with, under <platform>.emulate, its Graph API emulator.
type metaSide struct {
	ch  *metamsg.Channel
	emu *metaemu.Server
	cfg config.MetaChat
}

// metaSides are the enabled ones, Messenger first.
func (d *daemon) metaSides() []*metaSide {
	var out []*metaSide
	for _, s := range []*metaSide{d.fb, d.ig} {
		if s != nil {
			out = append(out, s)
		}
	}
	return out
}

// startMetaChannels builds the messenger and instagram channels that are
// enabled and registers them for campaigns.
func (d *daemon) startMetaChannels(ctx context.Context, portalAddr string) error {
	for _, p := range []struct {
		platform metamsg.Platform
		cfg      config.MetaChat
		dst      **metaSide
	}{{metamsg.Messenger, d.cfg.Messenger, &d.fb}, {metamsg.Instagram, d.cfg.Instagram, &d.ig}} {
		if !p.cfg.Enabled {
			continue
		}
		s, err := d.startMeta(ctx, p.platform, p.cfg, portalAddr)
		if err != nil {
			return err
		}
		if _, taken := d.channels[s.ch.Name()]; taken {
			return fmt.Errorf("%s.name: channel name %q is taken; choose another", p.platform, s.ch.Name())
		}
		d.channels[s.ch.Name()] = s.ch
		*p.dst = s
	}
	return nil
}

// startMeta builds one channel; with emulate it first starts the Graph
// API emulator on loopback, which calls the portal's webhook like Meta.
func (d *daemon) startMeta(ctx context.Context, p metamsg.Platform, c config.MetaChat, portalAddr string) (*metaSide, error) {
	o := metamsg.Options{Platform: p, Name: c.Name, BaseURL: c.APIURL, Version: c.APIVersion, AccountID: c.AccountID,
		Token: c.Token.Reveal(), AppSecret: c.AppSecret.Reveal(), VerifyToken: c.VerifyToken.Reveal(),
		HumanAgent: c.HumanAgent, PerSecond: c.MessagesPerSecond}
	s := &metaSide{cfg: c}
	if c.Emulate {
		emu := metaemu.New(metaemu.Options{Platform: p, CallbackURL: "http://" + portalAddr + metamsg.WebhookPath(p),
			DeliveryDelay: time.Second}) // a delivery event a second later, as Meta sends one
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("%s emulator: %w", p, err)
		}
		d.goRun(ctx, string(p)+"-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		eff := emu.Options()
		o.BaseURL, o.Token, o.AppSecret, o.AccountID = "http://"+ln.Addr().String(), eff.Token, eff.AppSecret, eff.AccountID
		if o.VerifyToken == "" {
			o.VerifyToken = "pbxgate-demo-verify"
		}
		s.emu = emu
		d.log.Info("Graph API emulator started", "platform", p, "url", o.BaseURL)
	}
	o.Store, o.Logger = d.store, d.log.With("component", string(p))
	o.Inbox, o.Statuses, o.Journal = d.inbox, d.router, d.msglog
	ch, err := metamsg.New(o)
	if err != nil {
		return nil, err
	}
	s.ch = ch
	d.component(string(p), ch.Run)
	return s, nil
}

// metaOptOuts: a person who blocked the page is an opt-out.
func (d *daemon) metaOptOuts() {
	for _, s := range d.metaSides() {
		s.ch.UseOptOuts(d.consent)
	}
}

// metaReplies lets the automation answer on Messenger and Instagram.
func (d *daemon) metaReplies(out *inbound.Outbound) {
	for _, s := range d.metaSides() {
		if out.Chats == nil {
			out.Chats = map[message.Kind]inbound.TextSender{}
		}
		out.Chats[s.ch.Kind()] = s.ch
	}
}

// metaSession finds the channel a session route names.
func (d *daemon) metaSession(name string) (*metamsg.Channel, bool) {
	for _, s := range d.metaSides() {
		if s.ch.Name() == name {
			return s.ch, true
		}
	}
	return nil, false
}

// metaRoutes mounts the webhooks and, in demo mode, the emulators' person
// controls under /fbemu/ and /igemu/.
func (d *daemon) metaRoutes(extra map[string]http.Handler) {
	for _, s := range d.metaSides() {
		extra[metamsg.WebhookPath(s.ch.Platform())] = holdWebhook(s.ch.Webhook(), d.disk)
		if d.demo && s.emu != nil {
			prefix := "/fbemu"
			if s.ch.Platform() == metamsg.Instagram {
				prefix = "/igemu"
			}
			// Demo: people write with POST <prefix>/_emu/message (see
			// drivers/metamsg/metaemu).
			extra[prefix+"/"] = http.StripPrefix(prefix, s.emu)
		}
	}
}

// metaComponents are the readiness lines of the channels.
func (d *daemon) metaComponents() []web.Component {
	var out []web.Component
	for _, s := range d.metaSides() {
		comp := web.Component{Name: string(s.ch.Platform()) + "/" + s.ch.Name(), State: "ok"}
		if st := s.ch.Status(); st.LastError != "" {
			comp.State, comp.Detail = "degraded", st.LastError
		}
		out = append(out, comp)
	}
	return out
}

// metaSetup is the portal's view of one channel.
func (d *daemon) metaSetup(s *metaSide) web.MetaSetup {
	if s == nil {
		return nil
	}
	return metaPortal{s: s, publicURL: d.cfg.HTTP.PublicURL}
}

type metaPortal struct {
	s         *metaSide
	publicURL string
}

func (p metaPortal) MetaStatus(ctx context.Context) web.MetaStatus {
	ch := p.s.ch
	st := ch.Status()
	out := web.MetaStatus{Platform: string(ch.Platform()), Channel: ch.Name(), AccountID: st.Account.ID, Name: st.Account.Name,
		Username: p.s.cfg.Username, LastOK: st.LastOK, LastError: st.LastError, Received: st.Received, Sent: st.Sent,
		HumanAgent: p.s.cfg.HumanAgent, Emulated: p.s.emu != nil}
	if out.Username == "" {
		out.Username = st.Account.Username
	}
	if p.publicURL != "" {
		out.WebhookURL = trimSlash(p.publicURL) + metamsg.WebhookPath(ch.Platform())
	}
	subs, err := ch.Subscribers(ctx)
	if err != nil {
		out.LastError = "subscribers not readable: " + err.Error()
		return out
	}
	slices.SortFunc(subs, func(a, b metamsg.Subscriber) int { return b.LastIn.Compare(a.LastIn) })
	for _, s := range subs {
		out.Subscribers++
		if s.Blocked {
			out.Blocked++
		}
		if len(out.List) < web.MaxMetaList {
			out.List = append(out.List, web.MetaSubscriber{Address: ch.Address(s.ID), Payload: s.Payload, First: s.First,
				LastIn: s.LastIn, Blocked: s.Blocked})
		}
	}
	return out
}

func (p metaPortal) TestMeta(ctx context.Context) (string, error) {
	if err := p.s.ch.CheckAccount(ctx); err != nil {
		return "", err
	}
	a := p.s.ch.Status().Account
	return a.Name + " (" + a.ID + ")", nil
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
