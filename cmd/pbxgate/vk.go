package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/pbxgate/pbxgate/drivers/vk"
	"github.com/pbxgate/pbxgate/drivers/vk/vkemu"
	"github.com/pbxgate/pbxgate/web"
)

// startVK builds the VK channel; with vk.emulate it first starts the VK
// API emulator on loopback, which the channel long-polls like VK.
func (d *daemon) startVK(ctx context.Context) (*vk.Channel, error) {
	opts := vk.OptionsFromConfig(d.cfg.VK)
	if d.cfg.VK.Emulate {
		emu := vkemu.New(vkemu.Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("vk emulator: %w", err)
		}
		d.goRun(ctx, "vk-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		d.vv.vkEmu = emu
		opts.BaseURL, opts.Token, opts.GroupID = "http://"+ln.Addr().String(), emu.Options().Token, emu.Options().GroupID
		opts.Receive = vk.LongPoll
		d.log.Info("VK API emulator started", "url", opts.BaseURL)
	}
	opts.Store, opts.Logger = d.store, d.log.With("component", "vk")
	opts.Inbox, opts.Statuses, opts.Journal = d.inbox, d.router, d.msglog
	ch, err := vk.New(opts)
	if err != nil {
		return nil, err
	}
	d.component("vk", ch.Run)
	return ch, nil
}

// vkSetup is the portal's view of the community.
func (d *daemon) vkSetup() web.VKSetup {
	if d.vv.vk == nil {
		return nil
	}
	p := vkPortal{ch: d.vv.vk}
	if d.cfg.VK.Receive == vk.Callback && d.cfg.HTTP.PublicURL != "" {
		p.callback = strings.TrimRight(d.cfg.HTTP.PublicURL, "/") + vk.CallbackPath
	}
	return p
}

type vkPortal struct {
	ch       *vk.Channel
	callback string
}

func (p vkPortal) VKStatus(ctx context.Context) web.VKStatus {
	st := p.ch.Status()
	out := web.VKStatus{Channel: p.ch.Name(), Mode: st.Mode, GroupID: p.ch.GroupID(), Group: st.Group, ScreenName: st.ScreenName,
		CallbackURL: p.callback, LastOK: st.LastOK, LastError: st.LastError, Received: st.Received, Sent: st.Sent}
	subs, err := p.ch.Subscribers(ctx)
	if err != nil {
		out.LastError = "subscribers not readable: " + err.Error()
		return out
	}
	slices.SortFunc(subs, func(a, b vk.Subscriber) int { return b.First.Compare(a.First) })
	for _, s := range subs {
		if s.Allowed {
			out.Subscribers++
		}
		if s.Denied {
			out.Denied++
		}
		if len(out.List) < web.MaxVKList {
			out.List = append(out.List, web.VKSubscriber{UserID: s.UserID, Key: s.Key, First: s.First, Allowed: s.Allowed, Denied: s.Denied})
		}
	}
	return out
}

func (p vkPortal) TestVK(ctx context.Context) (string, error) {
	g, err := p.ch.Client().GetGroup(ctx, p.ch.GroupID())
	if err != nil {
		return "", err
	}
	return g.Name, nil
}
