package campaign

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

// Short links (seed 002, "URL-Shortener" with "Klick-Tracking"): with
// Spec.ShortenLinks the links in a campaign's SMS text (or its WhatsApp
// template values) are replaced, per recipient, by short links on the
// gateway's public URL when the message is handed to the channel. The
// links are made from the campaign, the recipient and the target alone, so
// a message handed over again after a restart carries the same links.

// LinkShortener makes per-recipient short links; *shortlink.Links
// implements it.
type LinkShortener interface {
	Shorten(ctx context.Context, campaign string, seq int, text string) (string, error)
	// Sample is a short link of the real length (length checks).
	Sample() string
	// Clicks are a campaign's clicks by recipient sequence number.
	Clicks(ctx context.Context, campaign string) (map[int]int, error)
}

var rShortLinks = message.NewCode("campaign.shortlinks", 1) // error

// linkRE finds links as gateway/shortlink does (kept in step by a test).
var linkRE = regexp.MustCompile(`https?://[^\s<>"]*[^\s<>".,;:!?)\]}'*]`)

// checkShortLinks refuses ShortenLinks without a shortener (no public URL)
// and an SMS text that is too long once its links are short links.
func (e *Engine) checkShortLinks(spec *Spec) error {
	if !spec.ShortenLinks {
		return nil
	}
	if e.cfg.Links == nil {
		return fmt.Errorf("%w: short links need the gateway's public URL (http.public_url), which is not configured", ErrInvalid)
	}
	if spec.Content.WhatsApp == nil {
		if !linkRE.MatchString(spec.Content.Text) {
			return fmt.Errorf("%w: \"shorten links\" is on but the text has no link (http:// or https://)", ErrInvalid)
		}
		sample := e.cfg.Links.Sample()
		txt := linkRE.ReplaceAllLiteralString(spec.Content.Text, sample)
		if _, err := sms.PlanText(txt); err != nil {
			return fmt.Errorf("%w: with short links (%d characters each): %w", ErrInvalid, len(sample), err)
		}
	}
	return nil
}

// shortenOut puts recipient r's short links into its message (text, and
// for a template its values and preview).
func (e *Engine) shortenOut(ctx context.Context, c *Campaign, r *Recipient, out *message.Outbound, tm *TemplateMessage) error {
	if !c.Spec.ShortenLinks || e.cfg.Links == nil {
		return nil
	}
	short := func(s string) (string, error) {
		if !strings.Contains(s, "://") {
			return s, nil
		}
		t, err := e.cfg.Links.Shorten(ctx, c.ID, r.Seq, s)
		if err != nil {
			return s, message.WithReason(fmt.Errorf("short links: %w", err), rShortLinks.R(err))
		}
		return t, nil
	}
	var err error
	if out.Text, err = short(out.Text); err != nil {
		return err
	}
	if tm != nil {
		params := make([]Param, len(tm.Params))
		copy(params, tm.Params)
		for i := range params {
			if params[i].Value, err = short(params[i].Value); err != nil {
				return err
			}
		}
		tm.Params = params
	}
	return nil
}

// exportColumns are the export's columns beyond the recipient's own: the
// clicks of a campaign with short links and, for a WhatsApp campaign with
// an SMS fallback, the channel that reached the recipient.
type exportColumns struct {
	head  []string
	cells func(r Recipient) []string
}

func (e *Engine) exportExtra(ctx context.Context, c Campaign) (exportColumns, error) {
	var clicks map[int]int
	if c.Spec.ShortenLinks && e.cfg.Links != nil {
		var err error
		if clicks, err = e.cfg.Links.Clicks(ctx, c.ID); err != nil {
			return exportColumns{}, fmt.Errorf("export clicks: %w", err)
		}
	}
	x := exportColumns{cells: func(Recipient) []string { return nil }}
	if clicks != nil {
		x.head = append(x.head, "clicks")
	}
	fallback := c.Spec.Fallback != nil
	if fallback {
		x.head = append(x.head, "channel")
	}
	x.cells = func(r Recipient) []string {
		var out []string
		if clicks != nil {
			out = append(out, fmt.Sprint(clicks[r.Seq]))
		}
		if fallback {
			out = append(out, r.ReachedBy(c))
		}
		return out
	}
	return x, nil
}
