package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
	"github.com/pbxgate/pbxgate/web"
)

// Short links with click statistics (issue 21): made on http.public_url;
// the redirect /s/{key} is mounted without login (extraHandlers), clicks
// are written once a second by the "shortlinks" component.

// buildShortLinks opens the short links (also without a public URL: the
// links made before keep redirecting).
func (d *daemon) buildShortLinks() error {
	base := d.cfg.HTTP.PublicURL
	if d.cfg.HTTP.ShortLinkURL != "" {
		base = d.cfg.HTTP.ShortLinkURL
	}
	l, err := shortlink.New(shortlink.Config{Store: d.store, PublicURL: base, Logger: d.log.With("component", "shortlink")})
	if err != nil {
		return fmt.Errorf("short links: %w", err)
	}
	d.links = l
	d.component("shortlinks", l.Run)
	if !l.Enabled() {
		d.log.Info("short links are off: neither http.public_url nor http.short_link_url is set")
	}
	return nil
}

// campaignLinks is the engine's shortener: nil (not a typed nil) when
// short links are off.
func (d *daemon) campaignLinks() campaign.LinkShortener {
	if d.links == nil || !d.links.Enabled() {
		return nil
	}
	return d.links
}

// portalLinks is the portal's view of the short links.
func (d *daemon) portalLinks() web.ShortLinkService {
	if d.links == nil {
		return nil
	}
	return d.links
}

// shortLinkHost is the host of http.short_link_url when it is not the
// portal's own (http.public_url's): the host that serves redirects only.
func (d *daemon) shortLinkHost() string {
	own, err := url.Parse(d.cfg.HTTP.ShortLinkURL)
	if d.cfg.HTTP.ShortLinkURL == "" || err != nil {
		return ""
	}
	if pub, err := url.Parse(d.cfg.HTTP.PublicURL); err == nil && strings.EqualFold(pub.Hostname(), own.Hostname()) {
		return ""
	}
	return own.Hostname()
}

// addShortLinkRoute mounts the redirect.
func (d *daemon) addShortLinkRoute(extra map[string]http.Handler) {
	if d.links != nil {
		// Behind a trusted proxy each client has its own rate limit.
		extra[shortlink.PathPrefix] = d.links.Handler(shortlink.HandlerOptions{ClientIP: web.ClientIP})
	}
}
