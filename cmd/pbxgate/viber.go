package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/pbxgate/pbxgate/drivers/viber"
	"github.com/pbxgate/pbxgate/drivers/viber/viberemu"
	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/drivers/vk/vkemu"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbound"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/web"
)

// viberVK holds the Viber bot and the VK community with their emulators
// (viber.enabled, vk.enabled; *.emulate for make run): one daemon field
// for both keeps run.go's share small.
type viberVK struct {
	viber    *viber.Channel // nil unless viber.enabled
	viberEmu *viberemu.Server
	vk       *vk.Channel // nil unless vk.enabled (vk.go)
	vkEmu    *vkemu.Server
}

// startViberVK builds the enabled channels and adds them to the campaign
// channels.
func (d *daemon) startViberVK(ctx context.Context, portalAddr string) error {
	if d.cfg.Viber.Enabled {
		ch, err := d.startViber(ctx, portalAddr)
		if err != nil {
			return err
		}
		d.vv.viber = ch
		d.channels[ch.Name()] = ch
	}
	if d.cfg.VK.Enabled {
		ch, err := d.startVK(ctx)
		if err != nil {
			return err
		}
		d.vv.vk = ch
		d.channels[ch.Name()] = ch
	}
	return nil
}

// startViber builds the Viber channel; with viber.emulate it first starts
// the REST Bot API emulator on loopback, which calls the portal's webhook
// at portalAddr like Viber would.
func (d *daemon) startViber(ctx context.Context, portalAddr string) (*viber.Channel, error) {
	opts := viber.OptionsFromConfig(d.cfg.Viber, d.cfg.HTTP.PublicURL)
	if d.cfg.Viber.Emulate {
		emu := viberemu.New(viberemu.Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("viber emulator: %w", err)
		}
		d.goRun(ctx, "viber-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		d.vv.viberEmu = emu
		opts.BaseURL, opts.Token = "http://"+ln.Addr().String(), emu.Options().Token
		opts.PublicURL = "http://" + portalAddr
		d.log.Info("Viber REST Bot API emulator started", "url", opts.BaseURL)
	}
	opts.Store, opts.Logger = d.store, d.log.With("component", "viber")
	opts.Inbox, opts.Statuses, opts.Journal = d.inbox, d.router, d.msglog
	ch, err := viber.New(opts)
	if err != nil {
		return nil, err
	}
	d.component("viber", ch.Run)
	return ch, nil
}

// useOptOuts: unsubscribing (Viber) and message_deny (VK) are opt-outs.
func (v *viberVK) useOptOuts(c *consent.Consent) {
	if v.viber != nil {
		v.viber.UseOptOuts(c)
	}
	if v.vk != nil {
		v.vk.UseOptOuts(c)
	}
}

// senders are the automation's reply channels (nil interfaces when not
// configured).
func (v *viberVK) senders() (vb, vkS inbound.TextSender) {
	if v.viber != nil {
		vb = v.viber
	}
	if v.vk != nil {
		vkS = v.vk
	}
	return vb, vkS
}

// sessionChannel is the chat sessions' sender for channel name.
func (v *viberVK) sessionChannel(name string) (message.Kind, session.Sender, bool) {
	switch {
	case v.viber != nil && name == v.viber.Name():
		return message.Viber, v.viber, true
	case v.vk != nil && name == v.vk.Name():
		return message.VK, v.vk, true
	}
	return "", nil, false
}

// components are the channels' health on the dashboard and /healthz.
func (v *viberVK) components() []web.Component {
	var out []web.Component
	if v.viber != nil {
		c := web.Component{Name: "viber/" + v.viber.Name(), State: "ok"}
		if st := v.viber.Status(); st.LastError != "" {
			c.State, c.Detail = "degraded", st.LastError
		}
		out = append(out, c)
	}
	if v.vk != nil {
		c := web.Component{Name: "vk/" + v.vk.Name(), State: "ok"}
		if st := v.vk.Status(); st.LastError != "" {
			c.State, c.Detail = "degraded", st.LastError
		}
		out = append(out, c)
	}
	return out
}

// viberVKRoutes mounts Viber's webhook and VK's Callback API endpoint
// and, in demo mode, the emulators' subscriber controls under /viberemu/
// and /vkemu/.
func (d *daemon) viberVKRoutes(extra map[string]http.Handler) {
	if ch := d.vv.viber; ch != nil && (d.cfg.HTTP.PublicURL != "" || d.vv.viberEmu != nil) {
		extra[viber.WebhookPath] = holdWebhook(ch.Webhook(), d.disk)
	}
	if ch := d.vv.vk; ch != nil && d.cfg.VK.Receive == vk.Callback {
		extra[vk.CallbackPath] = holdWebhook(ch.Webhook(), d.disk)
	}
	if !d.demo {
		return
	}
	if d.vv.viberEmu != nil {
		// Demo: subscribers write with POST /viberemu/_emu/message.
		extra["/viberemu/"] = http.StripPrefix("/viberemu", d.vv.viberEmu)
	}
	if d.vv.vkEmu != nil {
		extra["/vkemu/"] = http.StripPrefix("/vkemu", d.vv.vkEmu)
	}
}

// viberSetup is the portal's view of the bot.
func (d *daemon) viberSetup() web.ViberSetup {
	if d.vv.viber == nil {
		return nil
	}
	return viberPortal{d.vv.viber}
}

type viberPortal struct{ ch *viber.Channel }

func (p viberPortal) ViberStatus(ctx context.Context) web.ViberStatus {
	st := p.ch.Status()
	out := web.ViberStatus{Channel: p.ch.Name(), Mode: st.Mode, Bot: st.Bot, URI: st.URI, WebhookURL: st.WebhookURL,
		LastOK: st.LastOK, LastError: st.LastError, Received: st.Received, Sent: st.Sent}
	subs, err := p.ch.Subscribers(ctx)
	if err != nil {
		out.LastError = "subscribers not readable: " + err.Error()
		return out
	}
	slices.SortFunc(subs, func(a, b viber.Subscriber) int { return b.First.Compare(a.First) })
	for _, s := range subs {
		if s.Subscribed {
			out.Subscribers++
		}
		if s.Unsubscribed {
			out.Gone++
		}
		if len(out.List) < web.MaxViberList {
			out.List = append(out.List, web.ViberSubscriber{UserID: s.UserID, Name: s.Name, Country: s.Country,
				Context: s.Context, First: s.First, Subscribed: s.Subscribed, Unsubscribed: s.Unsubscribed})
		}
	}
	return out
}

func (p viberPortal) TestViber(ctx context.Context) (string, error) {
	info, err := p.ch.Client().GetAccountInfo(ctx)
	if err != nil {
		return "", err
	}
	return info.Name, nil
}
