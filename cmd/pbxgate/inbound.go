package main

import (
	"fmt"

	"github.com/pbxgate/pbxgate/drivers/forward"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/inbound"
	"github.com/pbxgate/pbxgate/gateway/rules"
)

// newConsent builds STOP/START and the blacklist from the automation
// section of the configuration.
func (d *daemon) newConsent() (*consent.Consent, error) {
	a := d.cfg.Automation
	var stop, start []string
	if len(a.StopWords) > 0 {
		stop = a.StopWords
	}
	if len(a.StartWords) > 0 {
		start = a.StartWords
	}
	cfg := consent.Config{Store: d.store, StopWords: stop, StartWords: start, Logger: d.log.With("component", "consent")}
	sync := d.consentSync()
	if sync != nil {
		cfg.Replicator = sync
	}
	c, err := consent.New(cfg)
	if err != nil || sync == nil {
		return c, err
	}
	sync.Attach(c)
	d.component("consent-sync", sync.Run)
	return c, nil
}

// newRules builds the keyword rules engine from the automation section:
// its actions answer through out and route conversations through route
// (nil without sip.enabled).
func (d *daemon) newRules(cs *consent.Consent, out *inbound.Outbound, route rules.Router) (*rules.Engine, error) {
	a := d.cfg.Automation
	rc := rules.Config{
		Store:   d.store,
		Consent: cs,
		Replier: out,
		// WhatsApp answers with buttons or a list (whatsapp_interactive.go).
		Interactive: d.interactiveReplier(),
		SMS:         out,
		Campaigns:   out,
		Router:      route,
		HTTP:        forward.NewHTTP(forward.HTTPConfig{Timeout: a.HTTPTimeout, UserAgent: "pbxgate/" + version}),
		Location:    d.cfg.Location(),
		Logger:      d.log.With("component", "rules"),
		Registerer:  d.reg,
		StopReply:   a.StopReply,
		StartReply:  a.StartReply,
		Retry:       rules.Retry{First: a.RetryFirst, Max: a.RetryMax, Attempts: a.RetryAttempts},
	}
	if s := a.SMTP; s.Host != "" {
		m, err := forward.NewSMTP(forward.SMTPConfig{Host: s.Host, Port: s.Port, TLS: s.TLS, Username: s.Username,
			Password: s.Password.Reveal(), From: s.From, Timeout: s.Timeout})
		if err != nil {
			return nil, fmt.Errorf("automation.smtp: %w", err)
		}
		rc.Mailer = m
	}
	return rules.New(rc)
}
