package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/mms"
	"github.com/pbxgate/pbxgate/web"
)

// The daemon's MMS side (docs/mms.md): each SIM's MMS settings
// (modems.devices[].mms), inbound MMS into the inbox with their media
// saved under data_dir/mms, the portal's MMS service, and in simulation
// the fake MMSC.

type mmsSide struct {
	d     *daemon
	dir   string
	inbox smspool.Inbox
	stack *smsStack

	mu       sync.Mutex
	settings map[string]config.MMS // resolved, by modem name
	modems   map[string]*modem.Modem
}

func (d *daemon) newMMSSide(devices []config.ModemDevice, inbox smspool.Inbox, s *smsStack) (*mmsSide, error) {
	m := &mmsSide{d: d, dir: filepath.Join(d.cfg.DataDir, "mms"), inbox: inbox, stack: s,
		settings: map[string]config.MMS{}, modems: map[string]*modem.Modem{}}
	for _, dev := range devices {
		if dev.MMS == nil {
			continue
		}
		r, err := dev.MMS.Resolve()
		if err != nil {
			return nil, fmt.Errorf("modems.devices[%s].%w", dev.Name, err)
		}
		m.settings[dev.Name] = r
	}
	return m, nil
}

// attach gives the modem its MMS settings.
func (m *mmsSide) attach(name string, md *modem.Modem) {
	m.mu.Lock()
	m.modems[name] = md
	s, ok := m.settings[name]
	m.mu.Unlock()
	if ok {
		md.SetMMSSettings(modem.MMSSettings{APN: s.APN, MMSC: s.MMSC, Proxy: s.Proxy, ProxyPort: s.ProxyPort, MaxSize: s.MaxSizeKB * 1024})
	}
}

func (m *mmsSide) limitKB(name string) (int, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.settings[name]
	if !ok {
		return config.DefaultMMSMaxKB, false
	}
	return s.MaxSizeKB, true
}

// simulateMMS starts the simulated network's MMSC and points the
// simulated SIMs at it.
func (d *daemon) simulateMMS(s *smsStack, devices []config.ModemDevice) error {
	c, err := s.sim.StartMMSC(config.DefaultMMSMaxKB * 1024)
	if err != nil {
		return fmt.Errorf("simulated MMSC: %w", err)
	}
	for i := range devices {
		if devices[i].MMS == nil && strings.HasPrefix(devices[i].Name, "sim") {
			devices[i].MMS = &config.MMS{MMSC: c.URL(), MaxSizeKB: config.DefaultMMSMaxKB}
		}
	}
	d.log.Info("simulated MMSC started", "url", c.URL())
	return nil
}

var mediaIDRE = regexp.MustCompile(`^mms-[0-9a-f]{16}-[0-9]+(\.[a-z0-9]{1,5})?$`)

// inbound stores an MMS (or its notification) in the inbox; the media
// are saved first, so the inbox entry never points at a missing file.
func (m *mmsSide) inbound(ctx context.Context, name string, in modem.InboundMMS) error {
	sum := sha256.Sum256([]byte(name + "\x00" + in.Location))
	id := hex.EncodeToString(sum[:8])
	channel, receiver := name, name
	for _, ch := range m.d.cfg.Channels {
		for _, sim := range ch.Modems {
			if sim == name && channel == name {
				channel = ch.Name
			}
		}
	}
	m.mu.Lock()
	md := m.modems[name]
	m.mu.Unlock()
	if md != nil && md.Number() != "" {
		receiver = md.Number()
	}
	msg := message.Inbound{ID: "mms-" + id, Kind: message.SMS, Channel: channel, Receiver: receiver, From: in.From, At: in.AnnouncedAt}
	text := strings.TrimSpace(in.Subject)
	if !in.Retrieved {
		msg.Unsupported = in.Reason
		msg.Text = strings.TrimSpace("[MMS: " + in.Reason + "] " + text)
		return m.inbox.Accept(ctx, msg)
	}
	if in.Text != "" {
		text = strings.TrimSpace(text + "\n" + in.Text)
	}
	if err := os.MkdirAll(m.dir, 0o750); err != nil {
		return fmt.Errorf("MMS media directory: %w", err)
	}
	var more []string
	for i, p := range in.Media {
		ext := strings.ToLower(path.Ext(p.Name))
		if len(ext) > 6 || !regexp.MustCompile(`^\.[a-z0-9]+$`).MatchString(ext) {
			ext = ""
		}
		file := fmt.Sprintf("mms-%s-%d%s", id, i, ext)
		if err := writeFileSync(filepath.Join(m.dir, file), p.Data); err != nil {
			return fmt.Errorf("save MMS media: %w", err)
		}
		if i == 0 {
			msg.MediaID, msg.MediaType = file, p.ContentType
		} else {
			more = append(more, p.Name)
		}
	}
	if len(more) > 0 {
		text = strings.TrimSpace(text + "\n[+ " + strings.Join(more, ", ") + "]")
	}
	msg.Text = text
	return m.inbox.Accept(ctx, msg)
}

func writeFileSync(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// mmsMedia serves MMS media ("mms-…" ids) from data_dir/mms and hands
// other ids to next (WhatsApp's media).
type mmsMedia struct {
	dir  string
	next web.MediaSource
}

func (s mmsMedia) MediaFile(ctx context.Context, id string) (string, string, error) {
	if strings.HasPrefix(id, "mms-") {
		if !mediaIDRE.MatchString(id) {
			return "", "", fmt.Errorf("MMS media %q: %w", id, os.ErrNotExist)
		}
		p := filepath.Join(s.dir, id)
		if _, err := os.Stat(p); err != nil {
			return "", "", err
		}
		return p, mms.DetectType(id, nil), nil
	}
	if s.next == nil {
		return "", "", fmt.Errorf("media %q: %w", id, os.ErrNotExist)
	}
	return s.next.MediaFile(ctx, id)
}

// mmsService is the portal's MMS service (web.MMSService).
type mmsService struct{ m *mmsSide }

func (s mmsService) MMSModems(ctx context.Context) []web.MMSModem {
	s.m.mu.Lock()
	names := make([]string, 0, len(s.m.modems))
	for n := range s.m.modems {
		names = append(names, n)
	}
	s.m.mu.Unlock()
	sort.Strings(names)
	out := make([]web.MMSModem, 0, len(names))
	for _, n := range names {
		s.m.mu.Lock()
		md := s.m.modems[n]
		set, configured := s.m.settings[n]
		s.m.mu.Unlock()
		info := md.Info()
		v := web.MMSModem{Name: n, Model: strings.TrimSpace(info.Manufacturer + " " + info.Model), Online: md.Ready(),
			Configured: configured, Preset: set.Preset, MaxSizeKB: config.DefaultMMSMaxKB}
		if configured {
			v.MaxSizeKB = set.MaxSizeKB
		}
		if md.Ready() {
			cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			sup, err := md.MMSCapability(cctx)
			cancel()
			if err == nil {
				v.Known, v.Dialect, v.Send, v.Receive, v.Reason = true, sup.Dialect, sup.Send, sup.Receive, sup.Reason
			}
		}
		out = append(out, v)
	}
	return out
}

func (s mmsService) MMSPresets() []web.MMSPreset {
	var out []web.MMSPreset
	for _, p := range config.MMSPresets() {
		out = append(out, web.MMSPreset{ID: p.ID, Carrier: p.Carrier, Country: p.Country, APN: p.APN, MMSC: p.MMSC,
			Proxy: p.Proxy, ProxyPort: p.ProxyPort, MaxSizeKB: p.MaxSizeKB, Verified: p.Verified})
	}
	return out
}

func fitError(err error) error {
	var fe *mms.FitError
	if errors.As(err, &fe) {
		return &web.MMSFitError{Code: fe.Code, ContentType: fe.ContentType, SizeKB: (fe.Size + 1023) / 1024, LimitKB: fe.Limit / 1024, Msg: fe.Error()}
	}
	return err
}

func fitView(f mms.Fitted, limitKB int) web.MMSFit {
	return web.MMSFit{Name: f.Name, ContentType: f.ContentType, OriginalSize: f.OriginalSize, Size: len(f.Data), Scaled: f.Scaled,
		FromWidth: f.FromWidth, FromHeight: f.FromHeight, Width: f.Width, Height: f.Height, Quality: f.Quality, LimitKB: limitKB}
}

func (s mmsService) FitMMS(_ context.Context, modemName string, limitKB int, name string, data []byte) (web.MMSFit, error) {
	if modemName != "" {
		s.m.mu.Lock()
		_, ok := s.m.modems[modemName]
		s.m.mu.Unlock()
		if !ok {
			return web.MMSFit{}, fmt.Errorf("modem %q: %w", modemName, web.ErrUnknownModem)
		}
		limitKB, _ = s.m.limitKB(modemName)
	}
	if limitKB == 0 {
		limitKB = config.DefaultMMSMaxKB
	}
	f, err := mms.Fit(name, data, limitKB*1024)
	if err != nil {
		return web.MMSFit{}, fitError(err)
	}
	return fitView(f, limitKB), nil
}

// pick returns the named modem, or the first online one that can send
// MMS and has settings.
func (s mmsService) pick(ctx context.Context, name string) (string, *modem.Modem, error) {
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	if name != "" {
		md, ok := s.m.modems[name]
		if !ok {
			return "", nil, fmt.Errorf("modem %q: %w", name, web.ErrUnknownModem)
		}
		if _, ok := s.m.settings[name]; !ok {
			return "", nil, fmt.Errorf("modem %s: %w (modems.devices[].mms)", name, web.ErrMMSNotConfigured)
		}
		return name, md, nil
	}
	names := make([]string, 0, len(s.m.modems))
	for n := range s.m.modems {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		md := s.m.modems[n]
		if _, ok := s.m.settings[n]; !ok || !md.Ready() {
			continue
		}
		if sup, err := md.MMSCapability(ctx); err == nil && sup.Send {
			return n, md, nil
		}
	}
	return "", nil, web.ErrNoMMSModem
}

func (s mmsService) SendMMS(ctx context.Context, req web.MMSRequest) (web.MMSOutcome, error) {
	name, md, err := s.pick(ctx, req.Modem)
	if err != nil {
		return web.MMSOutcome{}, err
	}
	limitKB, _ := s.m.limitKB(name)
	f, err := mms.Fit(req.FileName, req.Data, limitKB*1024)
	if err != nil {
		return web.MMSOutcome{}, fitError(err)
	}
	res, err := md.SendMMS(ctx, req.To, req.Subject, req.Text, f)
	switch {
	case errors.Is(err, modem.ErrNoMMS):
		return web.MMSOutcome{}, fmt.Errorf("%w: %w", web.ErrNoMMSModem, err)
	case errors.Is(err, modem.ErrMMSCRejected), errors.Is(err, modem.ErrMMSNoResult):
		return web.MMSOutcome{}, fmt.Errorf("%w: %w", web.ErrMMSRejected, err)
	case errors.Is(err, modem.ErrMMSNotSet):
		return web.MMSOutcome{}, fmt.Errorf("%w: %w", web.ErrMMSNotConfigured, err)
	case err != nil:
		return web.MMSOutcome{}, err
	}
	s.m.d.log.Info("MMS sent", "modem", name, "to_suffix", suffix(req.To), "bytes", len(f.Data), "scaled", f.Scaled, "result", res.Result)
	return web.MMSOutcome{Modem: name, Fit: fitView(f, limitKB), Result: res.Result}, nil
}

// suffix shows the last digits of a number in logs.
func suffix(n string) string {
	if len(n) <= 4 {
		return n
	}
	return "…" + n[len(n)-4:]
}
