package session

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/message"
)

// Chat replies with a file (docs/mms.md): on an SMS channel with an
// MMS-capable SIM a portal or API user may attach a picture, audio,
// video, vCard or PDF to a reply. The file is fitted to the carrier limit
// of the SIM the reply leaves through and stored (campaign.FitAndStore,
// the same as a campaign's file) before anything is stored in the
// session; a file that cannot be fitted is refused with the reason and
// nothing is sent. The reply goes out as MMS with interactive priority,
// like every reply.

// MediaChannel is implemented by a channel's Sender that can send files
// on sessions (an SMS channel whose SIMs can send MMS).
type MediaChannel interface {
	// MMSRoute tells which SIM an MMS reply to a session on sender (the
	// SIM name or number the contact wrote to) leaves through — sender's
	// own SIM when it can send MMS, else "" for any capable SIM of the
	// channel — and that route's carrier limit in bytes (0: the default).
	// ok false: no SIM of the channel can send MMS; why says what each
	// SIM lacks ("sim2: no MMS commands; …").
	MMSRoute(ctx context.Context, sender string) (sim string, limit int, why string, ok bool)
}

// Reason codes of file replies (translated as "reason.<code>").
var (
	rMediaNotSMS = message.NewCode("session.mms_not_sms", 1) // channel kind
	rMediaNoSIM  = message.NewCode("session.mms_no_sim", 2)  // channel, why not
)

// ErrMediaRefused: the reply's file cannot be sent on this session (not
// an SMS channel with an MMS-capable SIM, or the file does not fit); the
// error carries the reason code. Nothing was stored or sent.
var ErrMediaRefused = errors.New("the file cannot be sent")

// MediaOffer is what a file reply on a session would be: the SIM it
// leaves through ("" any capable SIM of the channel) and the limit the
// file is fitted to.
type MediaOffer struct {
	SIM   string `json:"sim,omitempty"`
	Limit int    `json:"limit"` // bytes
}

// Attachment is the file of an Out entry: what the agent chose, what
// fitting made of it, and the SIM it was sent through.
type Attachment struct {
	campaign.Fitting
	SIM string `json:"sim,omitempty"`
}

// MediaIDPrefix starts the MediaID of a file pbxgate sent in a session:
// the rest is the stored file's name under Config.MediaDir.
const MediaIDPrefix = "mmsout-"

// MediaOffer tells whether session id can send a file and to what limit;
// an error wrapping ErrMediaRefused says why not (with a reason code),
// ErrNotFound that the session is not open.
func (m *Manager) MediaOffer(ctx context.Context, id string) (MediaOffer, error) {
	m.mu.Lock()
	s := m.open[id]
	var ch *Channel
	var sender string
	if s != nil {
		ch, sender = m.chans[s.Channel], s.Sender
	}
	m.mu.Unlock()
	if s == nil {
		return MediaOffer{}, fmt.Errorf("%w: %s is not open", ErrNotFound, id)
	}
	mc, ok := ch.Sender.(MediaChannel)
	if ch.Kind != message.SMS || !ok || m.cfg.MediaDir == "" {
		return MediaOffer{}, message.WithReason(fmt.Errorf("%w: only SMS channels with an MMS-capable SIM send files (channel %s is %s)", ErrMediaRefused, ch.Name, ch.Kind), rMediaNotSMS.R(string(ch.Kind)))
	}
	sim, limit, why, ok := mc.MMSRoute(ctx, sender)
	if !ok {
		if why == "" {
			why = "no SIM attached"
		}
		return MediaOffer{}, message.WithReason(fmt.Errorf("%w: no SIM of channel %s can send MMS (%s)", ErrMediaRefused, ch.Name, why), rMediaNoSIM.R(ch.Name, why))
	}
	if limit <= 0 {
		limit = campaign.DefaultMMSLimit
	}
	return MediaOffer{SIM: sim, Limit: limit}, nil
}

// ReplyWithFile is Reply with a file sent as MMS (text may be empty): the
// file is fitted to the limit of the SIM the reply leaves through and
// stored first; a refusal (ErrMediaRefused with the reason) stores and
// sends nothing. It returns what fitting did.
func (m *Manager) ReplyWithFile(ctx context.Context, id, by, text, name string, data []byte) (Attachment, error) {
	offer, err := m.MediaOffer(ctx, id)
	if err != nil {
		return Attachment{}, err
	}
	md, err := campaign.FitAndStore(m.cfg.MediaDir, name, data, offer.Limit)
	if err != nil {
		if errors.Is(err, campaign.ErrInvalid) {
			// The reason is the campaign form's (type, size, limit); the
			// text without "invalid campaign".
			why := strings.TrimPrefix(err.Error(), campaign.ErrInvalid.Error()+": ")
			return Attachment{}, message.WithReason(fmt.Errorf("%w: %s", ErrMediaRefused, why), message.ReasonOf(err))
		}
		return Attachment{}, err
	}
	a := Attachment{Fitting: md.Fitting, SIM: offer.SIM}
	out := &message.Media{Path: md.Path, Name: md.Name, ContentType: md.ContentType, Size: md.Size}
	return a, m.reply(ctx, id, by, text, 0, &a, out)
}

// mediaID is the MediaID of an Out entry's stored file.
func mediaID(path string) string { return MediaIDPrefix + filepath.Base(path) }

// MediaPath is the stored file behind a MediaID of an Out entry
// (MediaIDPrefix); false when id is not one, or names no plain file
// under Config.MediaDir.
func (m *Manager) MediaPath(id string) (string, bool) {
	name, ok := strings.CutPrefix(id, MediaIDPrefix)
	if !ok || m.cfg.MediaDir == "" || name == "" || name != filepath.Base(name) || strings.HasPrefix(name, ".") {
		return "", false
	}
	return filepath.Join(m.cfg.MediaDir, name), true
}

// KB is the sent file's size in KB (rounded up); OriginalKB the upload's,
// LimitKB the limit it was fitted to.
func (a Attachment) KB() int         { return (a.Size + 1023) / 1024 }
func (a Attachment) OriginalKB() int { return (a.OriginalSize + 1023) / 1024 }
func (a Attachment) LimitKB() int    { return a.Limit / 1024 }

// IsImage: the file is a picture (the portal shows a thumbnail).
func (a Attachment) IsImage() bool { return strings.HasPrefix(a.ContentType, "image/") }
