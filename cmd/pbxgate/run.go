package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"

	sddaemon "github.com/coreos/go-systemd/v22/daemon"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/term"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/telegram"
	"github.com/pbxgate/pbxgate/drivers/telegram/tgemu"
	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/drivers/whatsapp/waemu"
	"github.com/pbxgate/pbxgate/firmware/bundle"
	"github.com/pbxgate/pbxgate/firmware/spool"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/diskguard"
	"github.com/pbxgate/pbxgate/gateway/events"
	"github.com/pbxgate/pbxgate/gateway/inbound"
	"github.com/pbxgate/pbxgate/gateway/inbox"
	"github.com/pbxgate/pbxgate/gateway/logbuf"
	"github.com/pbxgate/pbxgate/gateway/logsync"
	"github.com/pbxgate/pbxgate/gateway/msglog"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/rules"
	"github.com/pbxgate/pbxgate/gateway/session"
	"github.com/pbxgate/pbxgate/gateway/shortlink"
	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/traffic"
	"github.com/pbxgate/pbxgate/gateway/users"
	"github.com/pbxgate/pbxgate/web"
)

// demoConfig is what `make run` (pbxgate run --demo) starts with: data in
// ./data, portal on 127.0.0.1:8080, simulated modems, no hardware, no root.
//
//go:embed demo.yaml
var demoConfig []byte

// migrations of the store's schema, in order. Version 1 is the first layout.
var migrations = []store.Migration{
	{Version: 1, Name: "initial layout"},
}

func cmdRun(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "run", "run [-c FILE] [--demo] [--data DIR] [--listen ADDR]")
	path := fs.String("c", config.DefaultPath, "configuration file")
	demo := fs.Bool("demo", false, "demo mode: mount the simulators' control routes (/sim/, /waemu/); without -c, embedded demo defaults (./data, 127.0.0.1:8080, simulated modems)")
	dataDir := fs.String("data", "", "override data_dir")
	listen := fs.String("listen", "", "override http.listen")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	var cfg config.Config
	var err error
	if *demo && !flagGiven(fs, "c") {
		cfg, err = config.Parse(demoConfig, env.environ)
	} else {
		cfg, err = config.Load(*path, env.environ)
	}
	if err != nil {
		return fmt.Errorf("%w\n(check it with: pbxgate config check -c %s)", err, *path)
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	}
	logs := logbuf.New(logKeep)
	d := &daemon{cfg: cfg, fileCfg: cfg, env: env, logs: logs, restart: make(chan string, 1), demo: *demo,
		log: slog.New(logs.Handler(newLogger(cfg.Log, env.stderr).Handler()))}
	err = d.run(ctx)
	if errors.Is(err, errRestart) {
		return reexec()
	}
	return err
}

// newLogger builds the daemon's logger: text on a terminal, JSON otherwise
// (journald and log shippers parse it), at the configured level.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// daemon is one running pbxgate: it owns the store and every component.
type daemon struct {
	cfg config.Config
	// fileCfg is the configuration file's (cfg plus what the portal
	// changed, e.g. PBX settings, is what runs).
	fileCfg       config.Config
	sipFromPortal bool
	env           *cliEnv
	demo          bool // run --demo: the simulators' control routes are mounted
	log           *slog.Logger
	store         *store.Store
	disk          *diskguard.Guard // free space of data_dir (budget.go)
	users         *users.Service
	reg           *prometheus.Registry
	links         *shortlink.Links // short links (reach.go)

	// The message flow, built before the channels: they store what
	// arrives in the inbox and report statuses to the router; the
	// components that consume both register with them.
	msglog  *msglog.Log     // every message in and out
	router  *events.Router  // status events to whoever sent the message
	inbox   *inbox.Inbox    // inbound messages of every channel
	traffic traffic.Counter // dashboard chart, fed by the router

	sms     *smsStack
	wa      *whatsapp.Channel // nil unless whatsapp.enabled
	waemu   *waemu.Server     // the Cloud API emulator with whatsapp.emulate
	waSetup *web.WhatsAppSetup
	tg      *telegram.Channel // nil unless telegram.enabled
	tgemu   *tgemu.Server     // the Bot API emulator with telegram.emulate
	vv      viberVK           // Viber bot and VK community (viber.go, vk.go)

	fb, ig    *metaSide // nil unless messenger/instagram.enabled (messenger.go)
	pbx       *pbxSide  // nil unless sip.enabled
	channels  map[string]campaign.Channel
	templates campaign.TemplateCatalog // nil without WhatsApp
	campaigns *campaign.Engine
	consent   *consent.Consent
	rules     *rules.Engine
	pipeline  *inbound.Pipeline
	cluster   *cluster.Node // nil unless the configuration has a cluster section
	// clusterWork runs the shared campaigns (cluster_campaigns.go); nil
	// on a box alone.
	clusterWork *clusterwork.Work
	// clusterClaims is clusterWork for the SMS pool's workers, which may
	// start before it is built (beforeTransmit).
	clusterClaims atomic.Pointer[clusterwork.Work]
	// logSync replicates the message log and sessions
	// (cluster_logsync.go); nil on a box alone.
	logSync *logsync.Sync

	logs    *logbuf.Ring
	restart chan string // requestRestart

	components []component    // built, started by startComponents
	wg         sync.WaitGroup // long-running components
}

// component is a long-running part, started once everything is wired.
type component struct {
	name string
	run  func(context.Context) error
}

// run starts the daemon in named steps, serves until ctx ends or a restart
// is requested, and stops. Components are built first and started
// together, so none sees another half-built.
func (d *daemon) run(ctx context.Context) error {
	start := time.Now()
	b := currentBuild()
	d.log.Info("pbxgate starting", "version", b.Version, "commit", b.Commit, "platform", b.Platform, "data_dir", d.cfg.DataDir)

	if err := d.openStore(); err != nil {
		return err
	}
	defer d.closeStore()
	if err := d.setupAccounts(ctx); err != nil {
		return err
	}
	if err := d.startCluster(ctx); err != nil {
		return err
	}
	defer d.stopCluster()

	// Components run until runCtx ends; the HTTP server stops first so no
	// new work arrives while in-flight work finishes.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	// Also on an error during start-up: components stop before the store
	// closes (Badger panics on a closed store).
	defer func() {
		cancel()
		d.waitComponents(d.cfg.Shutdown)
	}()

	// Listen first: the WhatsApp emulator needs the portal's address for
	// its webhooks, and a port in use should fail before anything starts.
	ln, err := net.Listen("tcp", d.cfg.HTTP.Listen)
	if err != nil {
		return fmt.Errorf("portal cannot listen on %s (http.listen): %w", d.cfg.HTTP.Listen, err)
	}
	defer ln.Close()

	if err := d.buildMessageFlow(); err != nil {
		return err
	}
	defer func() {
		if d.sms != nil {
			d.sms.close()
		}
	}()
	if err := d.buildChannels(runCtx, ln.Addr().String()); err != nil {
		return err
	}
	if err := d.buildPBX(runCtx); err != nil {
		return err
	}
	if err := d.buildCampaigns(); err != nil {
		return err
	}
	if err := d.buildAutomation(); err != nil {
		return err
	}
	if err := d.buildClusterWork(); err != nil {
		return err
	}
	d.startComponents(runCtx)
	// Campaigns the last stop left sending are running again before
	// anyone can look at them.
	select {
	case <-d.campaigns.Resumed():
	case <-runCtx.Done():
		return runCtx.Err()
	}

	srv, err := d.buildPortal(b)
	if err != nil {
		return err
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- srv.Serve(ln) }()
	ctl, err := d.startControl(runCtx)
	if err != nil {
		return err
	}
	go func() { serveErr <- ctl.serve() }()

	if err := d.startPprof(runCtx); err != nil {
		return err
	}
	d.log.Info("pbxgate ready", "portal", "http://"+ln.Addr().String()+"/", "startup", time.Since(start).Round(time.Millisecond).String())
	_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyReady)
	// Start-up garbage (argon2's 19 MB for a first-run password, Badger's
	// table loading) would otherwise stay resident for minutes on a 1 GB Pi.
	debug.FreeOSMemory()
	d.goRun(runCtx, "watchdog", d.watchdog)

	var restart error
	select {
	case <-ctx.Done():
		d.log.Info("shutting down", "reason", "signal")
	case err := <-serveErr:
		d.log.Error("server failed, shutting down", "err", err)
	case reason := <-d.restart:
		d.log.Info("restarting", "reason", reason)
		restart = errRestart
	}
	if restart != nil {
		notifyReloading()
	} else {
		_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyStopping)
	}
	if err := d.shutdown(srv, ctl, cancel); err != nil {
		return err
	}
	return restart
}

// openStore applies a backup uploaded in the portal (it takes effect
// before the store opens, see store.StageRestore), opens the store and
// migrates its schema.
func (d *daemon) openStore() error {
	applyMemoryLimit(d.cfg.Memory, d.env.environ, d.log)
	if _, err := store.ApplyStagedRestore(d.cfg.DataDir, d.log); err != nil {
		return fmt.Errorf("applying the restored backup in %s: %w", d.cfg.DataDir, err)
	}
	disk, err := d.newDiskGuard()
	if err != nil {
		return err
	}
	d.disk = disk
	st, err := store.Open(store.Options{Dir: d.cfg.DataDir, Profile: store.Profile(d.cfg.Store.Profile),
		SyncWrites: d.cfg.Store.SyncWrites, Logger: d.log, Guard: disk})
	if err != nil {
		return err
	}
	d.store = st
	if err := st.Migrate(migrations, d.backupBeforeMigration); err != nil {
		d.closeStore()
		return err
	}
	return nil
}

func (d *daemon) closeStore() {
	if err := d.store.Close(); err != nil {
		d.log.Error("closing store", "err", err)
	} else {
		d.log.Info("store closed")
	}
}

// setupAccounts applies the portal's PBX settings, creates the metrics
// registry and, on the first run, the admin account.
func (d *daemon) setupAccounts(ctx context.Context) error {
	d.applyPortalSIP()
	d.reg = prometheus.NewRegistry()
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d.reg.MustRegister(newStoreCollector(d.store))
	d.users = users.New(d.store)
	pw, created, err := d.users.EnsureAdmin(ctx)
	if err != nil {
		return fmt.Errorf("first-run admin: %w", err)
	}
	if created {
		d.printFirstRun(pw)
	}
	return nil
}

// buildMessageFlow builds what the channels feed: the message log, the
// status-event router (which also counts the dashboard's traffic) and the
// inbox.
func (d *daemon) buildMessageFlow() error {
	if err := d.traffic.Load(d.store); err != nil {
		d.log.Warn("dashboard chart: saved hours not readable; starting empty", "err", err)
	}
	d.component("traffic", func(ctx context.Context) error { return d.traffic.Run(ctx, d.store, time.Minute) })
	d.component("disk-guard", d.disk.Run)
	d.component("store-gc", func(ctx context.Context) error {
		d.store.RunGC(ctx, d.cfg.Store.GCInterval)
		return nil
	})
	d.trimMappedFiles()
	d.releaseMemory()
	var err error
	d.msglog, err = msglog.New(msglog.Config{Store: d.store, Logger: d.log.With("component", "msglog"), Replicator: d.msglogReplicator()})
	if err != nil {
		return err
	}
	d.attachLogSync()
	d.component("message-log", func(ctx context.Context) error { return d.msglog.Run(ctx, d.cfg.MessageLog.Retention) })
	d.router = events.New(events.Config{Logger: d.log.With("component", "events"), Journal: d.msglog})
	d.router.Observe(d.traffic.Count)
	d.inbox, err = inbox.New(inbox.Config{Store: d.store, Logger: d.log.With("component", "inbox")})
	if err != nil {
		return err
	}
	d.component("inbox", d.inbox.Run)
	return nil
}

// buildChannels builds the SMS pool with its modems and, with
// whatsapp.enabled, the WhatsApp number: the channels campaigns send on.
func (d *daemon) buildChannels(ctx context.Context, portalAddr string) error {
	var err error
	d.sms, err = d.startSMS(ctx, d.router, d.inbox)
	if err != nil {
		return err
	}
	d.channels = map[string]campaign.Channel{}
	for _, c := range d.cfg.Channels {
		ch, err := d.sms.pool.Channel(c.Name)
		if err != nil {
			return err
		}
		d.channels[c.Name] = ch
	}
	if d.cfg.WhatsApp.Enabled {
		d.wa, err = d.startWhatsApp(ctx, portalAddr, d.router, d.inbox)
		if err != nil {
			return err
		}
		d.channels[d.wa.Name()] = d.wa.ForCampaigns(d.router)
		d.templates = d.wa
	}
	if d.cfg.Telegram.Enabled {
		if d.tg, err = d.startTelegram(ctx); err != nil {
			return err
		}
		d.channels[d.tg.Name()] = d.tg
	}
	if err := d.startViberVK(ctx, portalAddr); err != nil { // viber.go
		return err
	}
	return d.startMetaChannels(ctx, portalAddr)
}

// buildPBX joins the PBX (sip.enabled) with the chat sessions; settings
// saved in the portal that do not start fall back to the file's.
func (d *daemon) buildPBX(ctx context.Context) error {
	if !d.cfg.SIP.Enabled {
		return nil
	}
	var waSender session.Sender
	waName := ""
	if d.wa != nil {
		waSender, waName = d.wa, d.wa.Name()
	}
	built := len(d.components)
	var err error
	d.pbx, err = d.startPBX(ctx, d.sms.pool, waSender, waName)
	if err != nil && d.sipFromPortal {
		// The admin's settings must not keep the gateway down.
		d.log.Error("the PBX settings saved in the portal do not start; using the configuration file's", "err", err)
		d.components = d.components[:built]
		d.cfg.SIP, d.sipFromPortal = d.fileCfg.SIP, false
		d.pbx, err = nil, nil
		if d.cfg.SIP.Enabled {
			d.pbx, err = d.startPBX(ctx, d.sms.pool, waSender, waName)
		}
	}
	return err
}

// buildCampaigns builds consent (STOP/START, blacklist) and the campaign
// engine, which claims the status events of its messages first.
func (d *daemon) buildCampaigns() error {
	var err error
	d.consent, err = d.newConsent()
	if err != nil {
		return err
	}
	if d.tg != nil {
		d.tg.UseOptOuts(d.consent) // a blocked bot is an opt-out
	}
	d.vv.useOptOuts(d.consent) // Viber unsubscribed, VK message_deny

	d.metaOptOuts()
	var sessions campaign.SessionOpener
	if d.pbx != nil {
		sessions = d.pbx.sessions
	}
	if err := d.buildShortLinks(); err != nil {
		return err
	}
	d.campaigns, err = campaign.New(campaign.Config{
		Store:      d.store,
		Channels:   d.channels,
		Logger:     d.log.With("component", "campaign"),
		Registerer: d.reg,
		Limits:     campaign.Limits{MaxCampaigns: d.cfg.Campaign.MaxCampaigns, MaxRecipients: d.cfg.Campaign.MaxRecipients},
		Location:   d.cfg.Location(),
		Region:     d.cfg.Region.DefaultCountry,
		AutoResume: d.cfg.Campaign.AutoResume,
		DNC:        recipients.NewLists(d.store),
		Lists:      recipients.NewContactLists(d.store), // living contact lists (always-running campaigns)
		Links:      d.campaignLinks(),                   // short links (reach.go)
		Blocker:    d.consent,
		Hold:       d.disk, // campaigns pause while the data disk is almost full
		Templates:  d.templates,
		Sessions:   sessions,
		MediaDir:   filepath.Join(d.cfg.DataDir, "mms", "campaigns"), // MMS campaign files (docs/mms.md)
	})
	if err != nil {
		return err
	}
	// Campaign messages first, then chat replies; a campaign message
	// sent in session mode shows in its chat too.
	d.router.Register("campaigns", d.campaigns, campaign.ErrUnknownStatus)
	if d.pbx != nil {
		d.router.Register("sessions", d.pbx.sessions, session.ErrUnknownStatus)
		if err := d.router.Follow("campaigns", "chat sessions", d.pbx.sessions.CampaignFollower(), session.ErrUnknownStatus); err != nil {
			return err
		}
	}
	d.component("campaigns", d.campaigns.Run)
	// campaigns.retention: completed campaigns lose their recipient
	// details after it (the totals stay), checked daily like the message
	// log's retention.
	d.component("campaign-retention", func(ctx context.Context) error { return d.campaigns.RunRetention(ctx, d.cfg.Campaign.Retention) })
	return nil
}

// buildAutomation builds the keyword rules and the inbound pipeline and
// registers the pipeline as the inbox's consumer.
func (d *daemon) buildAutomation() error {
	out := &inbound.Outbound{SMS: d.sms.pool, Campaigns: d.campaigns}
	if len(d.cfg.Channels) > 0 {
		out.DefaultSMS = d.cfg.Channels[0].Name
	}
	if d.wa != nil {
		out.WhatsApp = d.wa
	}
	if d.tg != nil {
		out.Telegram = d.tg
	}
	out.Viber, out.VK = d.vv.senders()

	d.metaReplies(out)
	var route rules.Router
	var sessions inbound.Sessions
	if d.pbx != nil {
		route, sessions = d.pbx.sessions, d.pbx.sessions
	}
	var err error
	d.rules, err = d.newRules(d.consent, out, route)
	if err != nil {
		return err
	}
	d.pipeline, err = inbound.New(inbound.Config{Journal: d.msglog, Rules: d.rules, Sessions: sessions,
		Retention: d.cfg.Automation.Retention, Logger: d.log.With("component", "inbound")})
	if err != nil {
		return err
	}
	if err := d.inbox.Register(d.pipeline); err != nil {
		return err
	}
	d.component("automation", d.pipeline.Run)
	return nil
}

// buildPortal builds the web portal on everything built before.
func (d *daemon) buildPortal(b buildInfo) (*http.Server, error) {
	deps := web.Deps{
		Store:          d.store,
		Users:          d.users,
		Logger:         d.log,
		Gatherer:       d.reg,
		MetricsToken:   d.cfg.Metrics.Token.Reveal(),
		Ready:          d.readiness,
		Version:        web.VersionInfo{Version: b.Version, Commit: b.Commit, BuildDate: b.BuildDate, GoVersion: b.GoVersion, Platform: b.Platform},
		Location:       d.cfg.Location(),
		DefaultCountry: d.cfg.Region.DefaultCountry,
		Status:         dashboardStatus{d},
		Campaigns:      web.EngineCampaigns(d.campaigns, d.channels),
		ShortLinks:     d.portalLinks(),
		Extra:          d.extraHandlers(),
		TrustedProxies: d.cfg.HTTP.TrustedProxies,
		ShortLinkHost:  d.shortLinkHost(),
		ShortLinkPath:  shortlink.PathPrefix,
		USSD:           d.sms,
		ModemConsole:   modemConsole{d},
		Rules:          d.rules,
		Consent:        d.consent,
		Messages:       d.msglog,
		WhatsApp:       d.waSetup,
		Telegram:       d.telegramSetup(),
		Viber:          d.viberSetup(),
		VK:             d.vkSetup(),

		Messenger: d.metaSetup(d.fb),
		Instagram: d.metaSetup(d.ig),
		Logs:      d.logs,
		Updates: spool.Spool{Dir: d.cfg.Updates.SpoolDir, Keys: d.cfg.Updates.Keys,
			Installed: b.Version, Arch: bundle.Arch()},
		Restore:     restoreStager{d},
		PBX:         pbxSettings{d},
		ModemPacing: modemPacing{d},
		Restart:     d.requestRestart,
		Disk:        diskBanner{d.disk},
	}
	if d.pbx != nil {
		deps.Sessions = d.pbx.sessions
	}
	if d.clusterWork != nil {
		deps.Cluster = clusterPortal{Work: d.clusterWork, d: d}
	}
	if d.wa != nil {
		deps.Media = d.wa.MediaIn(filepath.Join(d.cfg.DataDir, "media"))
		deps.MediaUploader = d.wa
		deps.Templates = d.wa
		deps.SyncTemplates = d.wa.Templates().Sync
	}
	if d.sms != nil && d.sms.mms != nil {
		deps.MMS = mmsService{d.sms.mms}
		deps.Media = mmsMedia{dir: d.sms.mms.dir, next: deps.Media}
		if d.pbx != nil {
			deps.Media = replyMedia{path: d.pbx.sessions.MediaPath, next: deps.Media} // mms_reply.go
		}
	}
	// Shutdown does not end the live views' event streams by itself.
	stopping := make(chan struct{})
	deps.Stopping = stopping
	handler, err := web.New(deps)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	srv.RegisterOnShutdown(func() { close(stopping) })
	return srv, nil
}

// component adds a long-running part, started by startComponents.
func (d *daemon) component(name string, run func(context.Context) error) {
	d.components = append(d.components, component{name: name, run: run})
}

// startComponents starts every built component, in the order built, once
// all are wired: no event or message flows before its consumer is there.
func (d *daemon) startComponents(ctx context.Context) {
	for _, c := range d.components {
		d.goRun(ctx, c.name, c.run)
	}
	d.components = nil
}

// shutdown stops accepting requests, lets in-flight requests and work end
// within shutdown_timeout, and leaves the store to be closed by run.
func (d *daemon) shutdown(srv *http.Server, ctl *controlServer, cancel context.CancelFunc) error {
	deadline := time.Now().Add(d.cfg.Shutdown)
	sctx, scancel := context.WithDeadline(context.Background(), deadline)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		d.log.Warn("portal requests still open at shutdown", "err", err)
	}
	ctl.shutdown(sctx)
	cancel()
	d.waitComponents(time.Until(deadline))
	if err := d.store.Sync(); err != nil {
		return fmt.Errorf("sync store: %w", err)
	}
	d.log.Info("pbxgate stopped")
	return nil
}

// waitComponents waits up to timeout for the components to stop.
func (d *daemon) waitComponents(timeout time.Duration) {
	done := make(chan struct{})
	go func() { d.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		d.log.Warn("components did not stop within shutdown_timeout; closing the store anyway", "timeout", d.cfg.Shutdown)
	}
}

// goRun runs a component until ctx ends, logging how it ended.
func (d *daemon) goRun(ctx context.Context, name string, fn func(context.Context) error) {
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			d.log.Error("component stopped", "component", name, "err", err)
		}
	}()
}

// watchdog pings systemd's watchdog at half its interval while the store
// answers, so a wedged daemon is restarted by systemd.
func (d *daemon) watchdog(ctx context.Context) error {
	interval, err := sddaemon.SdWatchdogEnabled(false)
	if err != nil || interval == 0 {
		return nil
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := d.store.SchemaVersion(); err != nil {
				d.log.Error("store does not answer; withholding watchdog ping", "err", err)
				continue
			}
			_, _ = sddaemon.SdNotify(false, sddaemon.SdNotifyWatchdog)
		}
	}
}

func (d *daemon) readiness(ctx context.Context) web.Readiness {
	r := web.Readiness{Ready: true}
	if _, err := d.store.SchemaVersion(); err != nil {
		r.Ready = false
		r.Components = append(r.Components, web.Component{Name: "store", State: "down", Detail: err.Error()})
	} else {
		r.Components = append(r.Components, web.Component{Name: "store", State: "ok"})
	}
	disk := d.diskComponent()
	r.Ready = r.Ready && disk.State != "down"
	r.Components = append(r.Components, disk)
	// A channel that cannot send right now degrades readiness but does not
	// fail it: the daemon still stores and queues everything.
	for _, c := range d.sms.pool.ChannelStates() {
		comp := web.Component{Name: "sms_channel/" + c.Name, State: "ok"}
		if c.Blocked != "" {
			comp.State, comp.Detail = "degraded", c.Blocked
		}
		r.Components = append(r.Components, comp)
	}
	if d.pbx != nil {
		comp := web.Component{Name: "sip", State: "ok"}
		if reg := d.pbx.gw.Registration(); reg.State != "registered" && reg.State != "disabled" {
			comp.State, comp.Detail = "degraded", strings.TrimSpace(reg.State+" "+reg.LastError)
		}
		r.Components = append(r.Components, comp)
	}
	if d.wa != nil {
		// Every configured number (whatsapp.numbers) has its own tier,
		// quality and stop state: one line each.
		chans := []*whatsapp.Channel{d.wa}
		if g := d.wa.Numbers(); g != nil {
			chans = g.Channels()
		}
		for _, ch := range chans {
			r.Components = append(r.Components, whatsappComponent(ch))
		}
	}
	if comp, ok := d.clusterComponent(); ok {
		r.Components = append(r.Components, comp)
	}
	if d.tg != nil {
		comp := web.Component{Name: "telegram/" + d.tg.Name(), State: "ok"}
		if st := d.tg.Status(); st.LastError != "" {
			comp.State, comp.Detail = "degraded", st.LastError
		}
		r.Components = append(r.Components, comp)
	}
	r.Components = append(r.Components, d.vv.components()...)

	r.Components = append(r.Components, d.metaComponents()...)
	for _, m := range d.sms.modemViews() {
		comp := web.Component{Name: "modem/" + m.Name, State: "ok"}
		if m.State != modem.StateOnline {
			comp.State, comp.Detail = "degraded", string(m.State)
		}
		r.Components = append(r.Components, comp)
	}
	return r
}

func (d *daemon) backupBeforeMigration(from, to int) error {
	if !d.cfg.Store.BackupOnStart {
		return nil
	}
	dir := filepath.Join(d.cfg.DataDir, "..", filepath.Base(d.cfg.DataDir)+"-backups")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	path := filepath.Join(dir, fmt.Sprintf("pre-migration-v%d-to-v%d-%s.pbxbak", from, to, time.Now().UTC().Format("20060102T150405Z")))
	if _, err := d.store.BackupFile(path); err != nil {
		return err
	}
	d.log.Info("store backed up before migration", "file", path)
	return nil
}

func (d *daemon) printFirstRun(password string) {
	url := "http://" + d.cfg.HTTP.Listen + "/"
	line := strings.Repeat("=", 64)
	fmt.Fprintf(d.env.stdout, "\n%s\n  First run: portal user \"admin\" created.\n  Password (shown only this once): %s\n  Open %s, log in and change it.\n%s\n\n", line, password, url, line)
}
