package app

import (
	"context"
	"errors"
)

// MMS through the SMS modems (docs/mms.md): which SIMs can send and
// receive MMS, the carrier presets, and sending one MMS with a file that
// is fitted to the SIM's carrier limit first.

// MMSService is what the MMS screen and API need (cmd/pbxgate's
// mmsService over the modems).
type MMSService interface {
	// MMSModems lists every modem with its MMS capability.
	MMSModems(ctx context.Context) []MMSModem
	// MMSPresets lists the carrier presets.
	MMSPresets() []MMSPreset
	// FitMMS fits a file to a modem's limit (or limitKB when modem is
	// "") without sending it. A refusal is an *MMSFitError.
	FitMMS(ctx context.Context, modem string, limitKB int, name string, data []byte) (MMSFit, error)
	// SendMMS fits the file to the chosen modem's limit and sends it.
	// Modem "" picks the first modem that can send MMS.
	SendMMS(ctx context.Context, req MMSRequest) (MMSOutcome, error)
}

// MMSModem is one modem's MMS capability.
type MMSModem struct {
	Name       string `json:"name"`
	Model      string `json:"model"`
	Online     bool   `json:"online"`
	Known      bool   `json:"known"` // the modem was asked (it was online once)
	Dialect    string `json:"dialect,omitempty"`
	Send       bool   `json:"send"`
	Receive    bool   `json:"receive"`
	Reason     string `json:"reason,omitempty"`
	Configured bool   `json:"configured"` // MMS settings (MMSC) set
	Preset     string `json:"preset,omitempty"`
	MaxSizeKB  int    `json:"max_size_kb"`
}

// MMSPreset is a carrier's MMS settings.
type MMSPreset struct {
	ID        string `json:"id"`
	Carrier   string `json:"carrier"`
	Country   string `json:"country"`
	APN       string `json:"apn"`
	MMSC      string `json:"mmsc"`
	Proxy     string `json:"proxy,omitempty"`
	ProxyPort int    `json:"proxy_port,omitempty"`
	MaxSizeKB int    `json:"max_size_kb"`
	Verified  bool   `json:"verified"`
}

// MMSRequest is one MMS to send.
type MMSRequest struct {
	Modem, To, Subject, Text string
	FileName                 string
	Data                     []byte
}

// MMSFit is what fitting did to a file.
type MMSFit struct {
	Name         string `json:"name"`
	ContentType  string `json:"content_type"`
	OriginalSize int    `json:"original_size"`
	Size         int    `json:"size"`
	Scaled       bool   `json:"scaled"`
	FromWidth    int    `json:"from_width,omitempty"`
	FromHeight   int    `json:"from_height,omitempty"`
	Width        int    `json:"width,omitempty"`
	Height       int    `json:"height,omitempty"`
	Quality      int    `json:"quality,omitempty"`
	LimitKB      int    `json:"limit_kb"`
}

// MMSOutcome is a sent MMS.
type MMSOutcome struct {
	Modem  string `json:"modem"`
	Fit    MMSFit `json:"fit"`
	Result string `json:"result"` // the modem's result line
}

// MMSFitError is a file that cannot be sent as MMS. Code is one of
// "unsupported_type", "too_large", "cannot_fit"; the portal translates
// it (mms.fit.<code>).
type MMSFitError struct {
	Code, ContentType string
	SizeKB, LimitKB   int
	Msg               string // English, for the API and logs
}

func (e *MMSFitError) Error() string { return e.Msg }

// Errors of the MMS service.
var (
	// ErrNoMMSModem: no modem (or not the one named) can send MMS.
	ErrNoMMSModem = errors.New("no modem that can send MMS")
	// ErrMMSNotConfigured: the modem has no MMS settings (modems.devices[].mms).
	ErrMMSNotConfigured = errors.New("the modem has no MMS settings")
	// ErrMMSRejected: the carrier's MMSC (or the modem) refused it.
	ErrMMSRejected = errors.New("the MMS was not accepted")
)

// MaxMMSUpload bounds an uploaded MMS file (the seed's 100 MB is the
// upload bound of its PBX; on a 1 GB appliance 20 MB is what is read into
// memory for fitting, and no carrier takes more than a few MB anyway).
const MaxMMSUpload = 20 << 20
