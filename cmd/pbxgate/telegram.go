package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"

	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/drivers/telegram/tgemu"
	"github.com/pbxgate/pbxgate/web"
)

// startTelegram builds the Telegram bot channel; with telegram.emulate it
// first starts the built-in Bot API emulator on loopback, which the
// channel long-polls like api.telegram.org.
func (d *daemon) startTelegram(ctx context.Context) (*telegram.Channel, error) {
	opts := telegram.OptionsFromConfig(d.cfg.Telegram, d.cfg.HTTP.PublicURL)
	if d.cfg.Telegram.Emulate {
		emu := tgemu.New(tgemu.Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("telegram emulator: %w", err)
		}
		d.goRun(ctx, "telegram-emulator", func(ctx context.Context) error { return emu.Serve(ctx, ln) })
		d.tgemu = emu
		opts.BaseURL, opts.Token = "http://"+ln.Addr().String(), emu.Options().Token
		opts.PublicURL = "" // the emulator is polled, like a box behind NAT
		d.log.Info("Telegram Bot API emulator started", "url", opts.BaseURL)
	}
	opts.Store, opts.Logger = d.store, d.log.With("component", "telegram")
	opts.Inbox, opts.Statuses, opts.Journal = d.inbox, d.router, d.msglog
	ch, err := telegram.New(opts)
	if err != nil {
		return nil, err
	}
	d.component("telegram", ch.Run)
	return ch, nil
}

// telegramRoutes mounts the webhook (webhook mode) and, in demo mode, the
// emulator's subscriber controls under /tgemu/.
func (d *daemon) telegramRoutes(extra map[string]http.Handler) {
	if d.tg == nil {
		return
	}
	if d.cfg.HTTP.PublicURL != "" && d.tgemu == nil {
		extra[telegram.WebhookPath] = holdWebhook(d.tg.Webhook(), d.disk)
	}
	if d.demo && d.tgemu != nil {
		// Demo: subscribers write with POST /tgemu/_emu/message (see
		// drivers/telegram/tgemu).
		extra["/tgemu/"] = http.StripPrefix("/tgemu", d.tgemu)
	}
}

// telegramSetup is the portal's view of the bot.
func (d *daemon) telegramSetup() web.TelegramSetup {
	if d.tg == nil {
		return nil
	}
	return telegramPortal{d.tg}
}

type telegramPortal struct{ ch *telegram.Channel }

func (p telegramPortal) TelegramStatus(ctx context.Context) web.TelegramStatus {
	st := p.ch.Status()
	out := web.TelegramStatus{Channel: p.ch.Name(), Mode: st.Mode, Bot: st.Bot, WebhookURL: st.WebhookURL,
		LastOK: st.LastOK, LastError: st.LastError, Received: st.Received, Sent: st.Sent}
	subs, err := p.ch.Subscribers(ctx)
	if err != nil {
		out.LastError = "subscribers not readable: " + err.Error()
		return out
	}
	slices.SortFunc(subs, func(a, b telegram.Subscriber) int { return b.First.Compare(a.First) })
	for _, s := range subs {
		out.Subscribers++
		if s.Blocked {
			out.Blocked++
		}
		if len(out.List) < web.MaxTelegramList {
			out.List = append(out.List, web.TelegramSubscriber{ChatID: s.ChatID, Name: s.Name, Username: s.Username,
				Payload: s.Payload, First: s.First, Blocked: s.Blocked})
		}
	}
	return out
}

func (p telegramPortal) TestTelegram(ctx context.Context) (string, error) {
	me, err := p.ch.Client().GetMe(ctx)
	if err != nil {
		return "", err
	}
	return me.Username, nil
}
