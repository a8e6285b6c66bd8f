package campaign

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
)

// MMS campaigns (docs/mms.md): an SMS campaign may carry one file (image,
// audio, video, vCard, PDF) with an optional text. The file is fitted to
// the carrier's limit of the channel's MMS-capable SIMs when the campaign
// is saved (FitMedia), stored once under Config.MediaDir, and each
// recipient's message names it (message.Outbound.Media); the SMS channel
// sends it as MMS through the capable SIMs only.

// MMSCapable is implemented by an SMS channel whose SIMs may send MMS
// (drivers/smspool's SMSChannel).
type MMSCapable interface {
	// MMSSIMs names the channel's SIMs whose modem can send MMS, the
	// smallest carrier limit among them in bytes (0: none set), and why
	// the others cannot ("SIM: reason; …").
	MMSSIMs(ctx context.Context) (sims []string, limit int, refused string)
}

// DefaultMMSLimit is the carrier limit used when no SIM sets one (the OMA
// "Image Rich" class every network accepts; config's default too).
const DefaultMMSLimit = 300 * 1024

// MaxMediaUpload bounds an uploaded file (the seed's 100 MB): what goes
// over the air is the carrier's limit.
const MaxMediaUpload = 100 << 20

// Media is a campaign's MMS file after fitting.
type Media struct {
	// Path is the fitted file under Config.MediaDir (content-addressed).
	Path string `json:"path"`
	Fitting
}

// Fitting is a file fitted to a carrier's MMS limit (FitAndStore) and
// what fitting did; campaign files (Media) and chat replies with a file
// (session.Attachment) carry it.
type Fitting struct {
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int    `json:"size"`
	// What fitting did, for the admin: the original size, and for a
	// scaled picture the dimensions before and after and the JPEG quality.
	OriginalSize int  `json:"original_size"`
	Scaled       bool `json:"scaled,omitempty"`
	FromWidth    int  `json:"from_width,omitempty"`
	FromHeight   int  `json:"from_height,omitempty"`
	Width        int  `json:"width,omitempty"`
	Height       int  `json:"height,omitempty"`
	Quality      int  `json:"quality,omitempty"`
	// Limit is the carrier limit (bytes) the file was fitted to.
	Limit int `json:"limit"`
}

// Reason codes of MMS campaigns (translated as "reason.<code>").
var (
	rMMSNotSMS      = message.NewCode("campaign.mms_not_sms", 1)          // channel
	rMMSNoSIM       = message.NewCode("campaign.mms_no_sim", 2)           // channel, why not
	rMMSNoDir       = message.NewCode("campaign.mms_no_dir", 0)           //
	rMMSUnsupported = message.NewCode("campaign.mms_unsupported_type", 1) // content type
	rMMSTooLarge    = message.NewCode("campaign.mms_too_large", 3)        // content type, KB, limit KB
	rMMSCannotFit   = message.NewCode("campaign.mms_cannot_fit", 1)       // limit KB
	rMMSUnreadable  = message.NewCode("campaign.mms_unreadable", 1)       // error text
	rMMSUpload      = message.NewCode("campaign.mms_upload_size", 1)      // MB
	rMMSFileGone    = message.NewCode("campaign.mms_file_missing", 1)     // name
	rMMSSender      = message.NewCode("campaign.mms_sender", 2)           // sender, capable SIMs
)

// mmsChannel returns the channel's MMS limit, or an error with the reason
// why it cannot send MMS.
func (e *Engine) mmsChannel(ctx context.Context, channel string) (int, error) {
	limit, _, err := e.mmsSIMs(ctx, channel)
	return limit, err
}

// mmsSIMs is mmsChannel with the names of the capable SIMs.
func (e *Engine) mmsSIMs(ctx context.Context, channel string) (int, []string, error) {
	ch := e.cfg.Channels[channel]
	if ch == nil {
		return 0, nil, fmt.Errorf("%w: channel %q does not exist", ErrInvalid, channel)
	}
	mc, ok := ch.(MMSCapable)
	if ch.Kind() != message.SMS || !ok {
		return 0, nil, message.WithReason(fmt.Errorf("%w: channel %q is not an SMS channel; only SMS channels send MMS", ErrInvalid, channel), rMMSNotSMS.R(channel))
	}
	sims, limit, why := mc.MMSSIMs(ctx)
	if len(sims) == 0 {
		if why == "" {
			why = "no SIM attached"
		}
		return 0, nil, message.WithReason(fmt.Errorf("%w: no SIM of channel %q can send MMS (%s)", ErrInvalid, channel, why), rMMSNoSIM.R(channel, why))
	}
	if limit <= 0 {
		limit = DefaultMMSLimit
	}
	return limit, sims, nil
}

// FitMedia fits an uploaded file to the MMS limit of channel's capable
// SIMs and stores it under Config.MediaDir; put the result into
// Spec.Content.Media. Refusals carry a reason code (the form shows it).
func (e *Engine) FitMedia(ctx context.Context, channel, name string, data []byte) (Media, error) {
	if e.cfg.MediaDir == "" {
		return Media{}, message.WithReason(fmt.Errorf("%w: MMS campaigns are not available (no media directory)", ErrInvalid), rMMSNoDir.R())
	}
	limit, err := e.mmsChannel(ctx, channel)
	if err != nil {
		return Media{}, err
	}
	return FitAndStore(e.cfg.MediaDir, name, data, limit)
}

// FitAndStore fits a file to an MMS of at most limit bytes (mms.Fit) and
// stores the result content-addressed under dir: what FitMedia does once
// it knows the channel's limit, for every other sender of MMS files (a
// session's chat reply). Refusals wrap ErrInvalid and carry the reason
// code ("campaign.mms_…": the file's type, size or the limit).
func FitAndStore(dir, name string, data []byte, limit int) (Media, error) {
	if dir == "" {
		return Media{}, message.WithReason(fmt.Errorf("%w: MMS files are not available (no media directory)", ErrInvalid), rMMSNoDir.R())
	}
	if len(data) > MaxMediaUpload {
		return Media{}, message.WithReason(fmt.Errorf("%w: the file is larger than %d MB", ErrInvalid, MaxMediaUpload>>20), rMMSUpload.R(MaxMediaUpload>>20))
	}
	if limit <= 0 {
		limit = DefaultMMSLimit
	}
	f, err := mms.Fit(name, data, limit)
	if err != nil {
		var fe *mms.FitError
		switch {
		case errors.As(err, &fe) && fe.Code == "unsupported_type":
			return Media{}, message.WithReason(fmt.Errorf("%w: %w", ErrInvalid, err), rMMSUnsupported.R(fe.ContentType))
		case errors.As(err, &fe) && fe.Code == "too_large":
			return Media{}, message.WithReason(fmt.Errorf("%w: %w", ErrInvalid, err), rMMSTooLarge.R(fe.ContentType, kb(fe.Size), kb(fe.Limit)))
		case errors.As(err, &fe):
			return Media{}, message.WithReason(fmt.Errorf("%w: %w", ErrInvalid, err), rMMSCannotFit.R(kb(fe.Limit)))
		}
		return Media{}, message.WithReason(fmt.Errorf("%w: %w", ErrInvalid, err), rMMSUnreadable.R(err))
	}
	sum := sha256.Sum256(f.Data)
	p := filepath.Join(dir, hex.EncodeToString(sum[:16])+strings.ToLower(path.Ext(f.Name)))
	if err := writeOnce(p, f.Data); err != nil {
		return Media{}, fmt.Errorf("store MMS file: %w", err)
	}
	return Media{Path: p, Fitting: Fitting{Name: f.Name, ContentType: f.ContentType, Size: len(f.Data), OriginalSize: f.OriginalSize,
		Scaled: f.Scaled, FromWidth: f.FromWidth, FromHeight: f.FromHeight, Width: f.Width, Height: f.Height, Quality: f.Quality,
		Limit: limit}}, nil
}

func kb(n int) int { return (n + 1023) / 1024 }

// writeOnce stores data at p (content-addressed: an existing file is the
// same) through a temporary file and a rename, so a crash leaves no torn
// file under the final name.
func writeOnce(p string, data []byte) error {
	if st, err := os.Stat(p); err == nil && st.Size() == int64(len(data)) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".upload-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// validateMedia checks an MMS campaign at save: an SMS channel with an
// MMS-capable SIM, the stored file there and within that SIM's limit, and
// the optional text rendering for every recipient.
func (e *Engine) validateMedia(ctx context.Context, spec *Spec, rs []Recipient) error {
	md := spec.Content.Media
	if spec.Content.WhatsApp != nil {
		return fmt.Errorf("%w: an MMS carries a file and text, not a WhatsApp template", ErrInvalid)
	}
	limit, sims, err := e.mmsSIMs(ctx, spec.Channel)
	if err != nil {
		return err
	}
	// A SIM chosen by name must be a capable one; one chosen by its number
	// ("+49…") is matched by the channel, which offers MMS to capable SIMs
	// only.
	if spec.Sender != "" && !strings.HasPrefix(spec.Sender, "+") && !slices.Contains(sims, spec.Sender) {
		return message.WithReason(fmt.Errorf("%w: sender %s cannot send MMS (SIMs that can: %s)", ErrInvalid, spec.Sender, strings.Join(sims, ", ")),
			rMMSSender.R(spec.Sender, strings.Join(sims, ", ")))
	}
	if e.cfg.MediaDir == "" || filepath.Dir(md.Path) != filepath.Clean(e.cfg.MediaDir) {
		return message.WithReason(fmt.Errorf("%w: the MMS file %q is not one pbxgate stored (upload it again)", ErrInvalid, md.Name), rMMSFileGone.R(md.Name))
	}
	st, err := os.Stat(md.Path)
	if err != nil {
		return message.WithReason(fmt.Errorf("%w: the MMS file %q is gone (upload it again): %w", ErrInvalid, md.Name, err), rMMSFileGone.R(md.Name))
	}
	if int(st.Size()) > limit-mms.Overhead {
		// Fitted for another channel with a larger limit.
		return message.WithReason(fmt.Errorf("%w: the %s file has %d KB; the SIMs of channel %q take at most %d KB per MMS (upload it again to fit it)",
			ErrInvalid, md.ContentType, kb(int(st.Size())), spec.Channel, kb(limit)), rMMSTooLarge.R(md.ContentType, kb(int(st.Size())), kb(limit)))
	}
	if len([]rune(spec.Content.Text)) > 5000 {
		return fmt.Errorf("%w: the MMS text has more than 5000 characters", ErrInvalid)
	}
	for _, r := range rs {
		if r.Status == RExcluded {
			continue
		}
		if _, err := render(spec.Content.Text, r.Number, r.Vars); err != nil {
			return fmt.Errorf("%w: recipient %s: %v (add the column to the import or remove the placeholder)", ErrInvalid, who(r), err)
		}
	}
	return nil
}

// outboundMedia is the channel's view of the campaign's file.
func outboundMedia(md *Media) *message.Media {
	if md == nil {
		return nil
	}
	return &message.Media{Path: md.Path, Name: md.Name, ContentType: md.ContentType, Size: md.Size}
}
