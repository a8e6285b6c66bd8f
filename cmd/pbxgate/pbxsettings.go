package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/settings"
)

// applyPortalSIP puts the PBX settings an admin saved in the portal in
// place of the file's sip section. Settings that no longer fit the
// configuration (a channel was renamed in the file) are logged and the
// file's apply.
func (d *daemon) applyPortalSIP() {
	rec, err := settings.LoadSIP(d.store)
	if err != nil {
		d.log.Error("reading the portal's PBX settings; using the configuration file's", "err", err)
		return
	}
	if rec == nil {
		return
	}
	cfg, err := d.fileCfg.WithSIP(rec.SIP, d.env.environ)
	if err == nil {
		err = checkSIPChannels(rec.SIP, d.channelNames())
	}
	if err != nil {
		d.log.Error("the PBX settings saved in the portal do not fit this configuration; using the configuration file's until they are saved again", "err", err)
		return
	}
	d.cfg.SIP = cfg.SIP
	d.sipFromPortal = true
	d.log.Info("PBX settings from the portal", "by", rec.By, "at", rec.At.Format(time.RFC3339))
}

// channelNames are the channels sessions may route: SMS channels and the
// WhatsApp number.
func (d *daemon) channelNames() []string {
	var names []string
	for _, c := range d.cfg.Channels {
		names = append(names, c.Name)
	}
	if d.cfg.WhatsApp.Enabled {
		// The channel's default name (whatsapp.Options.Name); the
		// configuration has one number.
		names = append(names, "whatsapp")
	}
	return names
}

// checkSIPChannels names routes and the default channel that point to no
// channel (the configuration's own validation cannot know them).
func checkSIPChannels(s config.SIP, channels []string) error {
	var ps config.Problems
	for i, r := range s.Sessions.Routes {
		if !slices.Contains(channels, r.Channel) {
			ps = append(ps, config.Problem{Key: fmt.Sprintf("sip.sessions.routes[%d].channel", i), Msg: fmt.Sprintf("no channel named %q", r.Channel)})
		}
	}
	if dc := s.Sessions.DefaultChannel; dc != "" && !slices.Contains(channels, dc) {
		ps = append(ps, config.Problem{Key: "sip.sessions.default_channel", Msg: fmt.Sprintf("no channel named %q", dc)})
	}
	if len(ps) > 0 {
		return ps
	}
	return nil
}

// pbxSettings implements web.PBXSettings for the daemon.
type pbxSettings struct{ d *daemon }

func (p pbxSettings) SIP() (config.SIP, bool, string, time.Time) {
	rec, err := settings.LoadSIP(p.d.store)
	if err != nil || rec == nil {
		return p.d.fileCfg.SIP, false, "", time.Time{}
	}
	return rec.SIP, true, rec.By, rec.At
}

func (p pbxSettings) SaveSIP(ctx context.Context, s config.SIP, by string) error {
	if _, err := p.d.fileCfg.WithSIP(s, p.d.env.environ); err != nil {
		return err
	}
	if err := checkSIPChannels(s, p.d.channelNames()); err != nil {
		return err
	}
	p.d.log.Info("PBX settings saved in the portal", "by", by, "enabled", s.Enabled, "mode", s.Mode, "registrar", s.Registrar, "peer", s.PeerAddress)
	return settings.SaveSIP(p.d.store, settings.SIPRecord{SIP: s, By: by, At: time.Now().UTC()})
}

func (p pbxSettings) ResetSIP(ctx context.Context, by string) error {
	p.d.log.Info("PBX settings reset to the configuration file's", "by", by)
	return settings.ResetSIP(p.d.store)
}

func (p pbxSettings) Channels() []string { return p.d.channelNames() }
