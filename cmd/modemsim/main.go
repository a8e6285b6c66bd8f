// Command modemsim starts simulated AT modems on ptys and serves their
// control API on loopback, for demos, `make run` and manual driver tests.
//
//	modemsim -n 2 -model EC25,SIM800 -latency 300ms -listen 127.0.0.1:7420
//
// It prints one line per modem (pty path, number, IMEI) and a new line
// whenever a modem's port comes back under a new path after a reboot. The
// control API is documented in package drivers/modemsim.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modemsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "modemsim:", err)
		stop()
		os.Exit(1)
	}
}

type options struct {
	count       int
	listen      string
	models      string
	latency     time.Duration
	jitter      time.Duration
	reportDelay time.Duration
	pin         string
	capacity    int
	seed        int64
	linkDir     string
	verbose     bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("modemsim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.count, "n", 2, "number of simulated modems")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:7420", "control API address (keep it on loopback)")
	fs.StringVar(&o.models, "model", "EC25", "model per modem, comma-separated and cycled: "+strings.Join(modemsim.Models(), ", "))
	fs.DurationVar(&o.latency, "latency", 300*time.Millisecond, "AT+CMGS answer delay")
	fs.DurationVar(&o.jitter, "jitter", 0, "extra uniform random AT+CMGS delay in [0, jitter)")
	fs.DurationVar(&o.reportDelay, "report-delay", 2*time.Second, "status report delay after delivery")
	fs.StringVar(&o.pin, "pin", "", "SIM PIN required by every modem (empty: none)")
	fs.IntVar(&o.capacity, "capacity", 20, "message slots per memory (SM, ME, SR)")
	fs.Int64Var(&o.seed, "seed", time.Now().UnixNano(), "random seed (jitter, error rolls)")
	fs.StringVar(&o.linkDir, "link-dir", "", "keep DIR/modemN symlinks to the ptys (stable across reboots, like /dev/serial/by-id)")
	fs.BoolVar(&o.verbose, "v", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.count < 1 || o.count > 64 {
		return o, fmt.Errorf("-n %d: use 1..64 modems", o.count)
	}
	if o.capacity < 1 || o.capacity > 255 {
		return o, fmt.Errorf("-capacity %d: use 1..255 slots", o.capacity)
	}
	for _, m := range strings.Split(o.models, ",") {
		if !known(strings.TrimSpace(m)) {
			return o, fmt.Errorf("-model %q: unknown model (known: %s)", m, strings.Join(modemsim.Models(), ", "))
		}
	}
	return o, nil
}

func known(m string) bool {
	for _, k := range modemsim.Models() {
		if strings.EqualFold(k, m) {
			return true
		}
	}
	return false
}

// run starts the modems and serves the control API until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	level := slog.LevelInfo
	if o.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	network := modemsim.NewNetwork(modemsim.WithLogger(log), modemsim.WithSeed(o.seed))
	defer network.Close()
	models := strings.Split(o.models, ",")
	for i := 0; i < o.count; i++ {
		idx := i
		cfg := modemsim.Config{
			Model:               strings.ToUpper(strings.TrimSpace(models[i%len(models)])),
			PIN:                 o.pin,
			StorageCapacity:     o.capacity,
			SendLatency:         o.latency,
			SendJitter:          o.jitter,
			DeliveryReportDelay: o.reportDelay,
		}
		if o.linkDir != "" {
			cfg.Link = filepath.Join(o.linkDir, fmt.Sprintf("modem%d", i))
		}
		var m *modemsim.Modem
		cfg.OnPathChange = func(path string) {
			if path == "" {
				fmt.Fprintf(stdout, "modem %d gone (rebooting)\n", idx)
				return
			}
			fmt.Fprintf(stdout, "modem %d back: %s number %s imei %s\n", idx, path, m.Number(), m.IMEI())
		}
		m, err = network.AddModem(ctx, cfg)
		if err != nil {
			return fmt.Errorf("start modem %d: %w", i, err)
		}
		fmt.Fprintf(stdout, "modem %d: %s number %s imei %s model %s", i, m.Path(), m.Number(), m.IMEI(), m.Model())
		if m.Link() != "" {
			fmt.Fprintf(stdout, " link %s", m.Link())
		}
		fmt.Fprintln(stdout)
	}
	return serve(ctx, o.listen, network.Handler(), stdout)
}

func serve(ctx context.Context, addr string, h http.Handler, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("control API on %s: %w", addr, err)
	}
	fmt.Fprintf(stdout, "control API: http://%s/modems\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
