package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// extraHandlers are mounted on the portal's server without its login: the
// WhatsApp webhook, and only in demo mode (run --demo) the simulators'
// control APIs that inject customers' SMS and WhatsApp messages and modem
// faults. Outside demo mode simulated modems (modems.simulate) and the
// Cloud API emulator (whatsapp.emulate) still run, but nobody on the
// network can drive them.
func (d *daemon) extraHandlers() map[string]http.Handler {
	extra := map[string]http.Handler{}
	d.addShortLinkRoute(extra) // reach.go
	if d.wa != nil {
		extra[whatsapp.WebhookPath] = holdWebhook(d.wa.Webhook(), d.disk)
	}
	d.telegramRoutes(extra)
	d.viberVKRoutes(extra) // viber.go

	d.metaRoutes(extra) // messenger.go
	if !d.demo {
		if d.sms.sim != nil || d.waemu != nil {
			d.log.Info("simulator control routes /sim/ and /waemu/ not mounted: they exist only with pbxgate run --demo")
		}
		return extra
	}
	if d.sms.sim != nil {
		extra["/sim/"] = http.StripPrefix("/sim", d.sms.sim.Handler())
	}
	if d.waemu != nil {
		// Demo: inject WhatsApp customers' messages with
		// POST /waemu/_emu/inbound (see drivers/whatsapp/waemu).
		extra["/waemu/"] = http.StripPrefix("/waemu", d.waemu)
	}
	return extra
}

// flagGiven reports whether flag name was set on the command line.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// maxControlBody bounds a control socket request (JSON of a user, token,
// SMS): the socket is local, but nothing reads unbounded input.
const maxControlBody = 1 << 20

// The control socket lets the CLI talk to the running daemon (the daemon
// holds the store's lock): online backup, users, modems, USSD, send. It lives
// in the data directory, so file permissions are its access control.
const controlSocketName = "pbxgate.sock"

type controlServer struct {
	srv  *http.Server
	ln   net.Listener
	path string
}

func (d *daemon) startControl(ctx context.Context) (*controlServer, error) {
	path := filepath.Join(d.cfg.DataDir, controlSocketName)
	// A socket left by a crashed daemon is stale: we hold the store lock, so
	// no other daemon can be serving it.
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := d.store.Backup(w); err != nil {
			d.log.Error("online backup failed", "err", err)
			// Headers are gone; the client sees a truncated stream and
			// the trailer-less EOF, and reports failure.
			panic(http.ErrAbortHandler)
		}
	})
	mux.HandleFunc("GET /v1/users", func(w http.ResponseWriter, r *http.Request) {
		list, err := d.users.List(r.Context())
		writeControl(w, list, err)
	})
	mux.HandleFunc("POST /v1/users", func(w http.ResponseWriter, r *http.Request) {
		var req userRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody)).Decode(&req); err != nil {
			writeControl(w, nil, err)
			return
		}
		writeControl(w, nil, d.users.Add(r.Context(), req.Name, req.Password, users.Role(req.Role)))
	})
	mux.HandleFunc("PUT /v1/users/{name}/password", func(w http.ResponseWriter, r *http.Request) {
		var req userRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody)).Decode(&req); err != nil {
			writeControl(w, nil, err)
			return
		}
		writeControl(w, nil, d.users.SetPassword(r.Context(), r.PathValue("name"), req.Password))
	})
	mux.HandleFunc("POST /v1/users/{name}/tokens", func(w http.ResponseWriter, r *http.Request) {
		var req tokenRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody)).Decode(&req); err != nil {
			writeControl(w, nil, err)
			return
		}
		tok, err := d.users.CreateToken(r.Context(), r.PathValue("name"), req.Label)
		writeControl(w, tokenReply{Token: tok}, err)
	})
	d.smsControlRoutes(mux)
	d.clusterRoutes(mux)
	return &controlServer{srv: &http.Server{Handler: mux, BaseContext: func(net.Listener) context.Context { return ctx }}, ln: ln, path: path}, nil
}

func (c *controlServer) serve() error {
	err := c.srv.Serve(c.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (c *controlServer) shutdown(ctx context.Context) {
	_ = c.srv.Shutdown(ctx)
	_ = os.Remove(c.path)
}

type userRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

type tokenRequest struct {
	Label string `json:"label"`
}

type tokenReply struct {
	Token string `json:"token"`
}

type controlError struct {
	Error string `json:"error"`
}

func writeControl(w http.ResponseWriter, v any, err error) {
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(controlError{Error: err.Error()})
		return
	}
	if v == nil {
		v = struct{}{}
	}
	_ = json.NewEncoder(w).Encode(v)
}

// errDaemonNotRunning: no daemon answers on the control socket.
var errDaemonNotRunning = errors.New("pbxgate daemon is not running")

// controlClient talks to the daemon serving dataDir.
type controlClient struct {
	http *http.Client
}

func newControlClient(dataDir string) *controlClient {
	path := filepath.Join(dataDir, controlSocketName)
	return &controlClient{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// do sends a request; a missing or dead socket is errDaemonNotRunning.
func (c *controlClient) do(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://pbxgate"+path, rd)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENOENT) {
			return nil, errDaemonNotRunning
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return resp, nil
}

// call sends a JSON request and decodes a JSON answer into out.
func (c *controlClient) call(ctx context.Context, method, path string, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var ce controlError
		if json.NewDecoder(resp.Body).Decode(&ce) == nil && ce.Error != "" {
			return errors.New(ce.Error)
		}
		return fmt.Errorf("daemon answered %s", resp.Status)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
