package modemsim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Handler serves the control API (see the package documentation).
func (n *Network) Handler() http.Handler {
	mux := http.NewServeMux()
	n.mmscControls(mux)
	mux.HandleFunc("GET /modems", func(w http.ResponseWriter, r *http.Request) {
		ms := n.Modems()
		out := make([]Status, 0, len(ms))
		for _, m := range ms {
			out = append(out, m.Status())
		}
		writeJSON(w, http.StatusOK, out)
	})
	mux.HandleFunc("POST /modems", func(w http.ResponseWriter, r *http.Request) {
		var req addRequest
		if !readJSON(w, r, &req) {
			return
		}
		cfg, err := req.config()
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err)
			return
		}
		// The modem outlives the request: it runs until deleted or the
		// network closes.
		m, err := n.AddModem(context.WithoutCancel(r.Context()), cfg)
		if err != nil {
			code := http.StatusUnprocessableEntity
			if errors.Is(err, ErrDuplicate) {
				code = http.StatusConflict
			}
			writeError(w, code, err)
			return
		}
		writeJSON(w, http.StatusCreated, m.Status())
	})
	mux.HandleFunc("DELETE /modems/{imei}", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		m.Close()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /modems/{imei}", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		writeJSON(w, http.StatusOK, m.Status())
	}))
	mux.HandleFunc("POST /modems/{imei}/inject", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		var msg InboundSMS
		if !readJSON(w, r, &msg) {
			return
		}
		if err := n.Inject(r.Context(), m.Number(), msg); err != nil {
			writeError(w, http.StatusUnprocessableEntity, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "queued", "to": m.Number()})
	}))
	mux.HandleFunc("GET /modems/{imei}/sent", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		writeJSON(w, http.StatusOK, m.Sent())
	}))
	mux.HandleFunc("GET /modems/{imei}/stored", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		out := m.Stored()
		if out == nil {
			out = []StoredSMS{}
		}
		writeJSON(w, http.StatusOK, out)
	}))
	mux.HandleFunc("GET /modems/{imei}/fault", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		writeJSON(w, http.StatusOK, m.Fault())
	}))
	mux.HandleFunc("PUT /modems/{imei}/fault", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		var f Fault
		if !readJSON(w, r, &f) {
			return
		}
		if err := f.validate(); err != nil {
			writeError(w, http.StatusUnprocessableEntity, err)
			return
		}
		m.SetFault(f)
		writeJSON(w, http.StatusOK, m.Fault())
	}))
	mux.HandleFunc("POST /modems/{imei}/reset", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		var req struct {
			Announce bool `json:"announce"`
		}
		if r.ContentLength != 0 && !readJSON(w, r, &req) {
			return
		}
		m.SilentReset(req.Announce)
		writeJSON(w, http.StatusAccepted, map[string]any{"status": "reset", "announce": req.Announce})
	}))
	mux.HandleFunc("POST /modems/{imei}/reboot", n.withModem(func(w http.ResponseWriter, r *http.Request, m *Modem) {
		var req struct {
			Down string `json:"down"`
		}
		if r.ContentLength != 0 && !readJSON(w, r, &req) {
			return
		}
		down := time.Second
		if req.Down != "" {
			d, err := time.ParseDuration(req.Down)
			if err != nil || d < 0 {
				writeError(w, http.StatusBadRequest, fmt.Errorf(`"down" must be a duration like "2s": %q`, req.Down))
				return
			}
			down = d
		}
		m.Reboot(down)
		writeJSON(w, http.StatusAccepted, map[string]string{"status": "rebooting", "down": down.String()})
	}))
	return mux
}

// addRequest is the body of POST /modems: Config with durations as text.
type addRequest struct {
	Model               string `json:"model"`
	IMEI                string `json:"imei"`
	ICCID               string `json:"iccid"`
	IMSI                string `json:"imsi"`
	Number              string `json:"number"`
	Operator            string `json:"operator"`
	PIN                 string `json:"pin"`
	StorageCapacity     int    `json:"storage_capacity"`
	SendLatency         string `json:"send_latency"`
	SendJitter          string `json:"send_jitter"`
	DeliveryReportDelay string `json:"delivery_report_delay"`
	RegistrationDelay   string `json:"registration_delay"`
	BootURCs            bool   `json:"boot_urcs"`
	Link                string `json:"link"`
}

func (a addRequest) config() (Config, error) {
	cfg := Config{Model: a.Model, IMEI: a.IMEI, ICCID: a.ICCID, IMSI: a.IMSI, Number: a.Number,
		Operator: a.Operator, PIN: a.PIN, StorageCapacity: a.StorageCapacity, BootURCs: a.BootURCs, Link: a.Link}
	for _, d := range []struct {
		name, text string
		to         *time.Duration
	}{
		{"send_latency", a.SendLatency, &cfg.SendLatency},
		{"send_jitter", a.SendJitter, &cfg.SendJitter},
		{"delivery_report_delay", a.DeliveryReportDelay, &cfg.DeliveryReportDelay},
		{"registration_delay", a.RegistrationDelay, &cfg.RegistrationDelay},
	} {
		if d.text == "" {
			continue
		}
		v, err := time.ParseDuration(d.text)
		if err != nil || v < 0 {
			return cfg, fmt.Errorf("%s %q: use a duration like \"300ms\"", d.name, d.text)
		}
		*d.to = v
	}
	return cfg, nil
}

func (f Fault) validate() error {
	switch f.HangMode {
	case "", HangUntilReset, HangUntilReopen, HangUntilReplug:
	default:
		return fmt.Errorf("hang_mode %q: use %q, %q or %q", f.HangMode, HangUntilReset, HangUntilReopen, HangUntilReplug)
	}
	total := 0.0
	for code, p := range f.CMSErrors {
		if code <= 0 || code > 555 {
			return fmt.Errorf("cms_errors: %d is not a +CMS ERROR code (1..555)", code)
		}
		if p < 0 || p > 1 {
			return fmt.Errorf("cms_errors[%d]: probability %v must be within 0..1", code, p)
		}
		total += p
	}
	if total > 1.000001 {
		return fmt.Errorf("cms_errors: probabilities add up to %v, more than 1", total)
	}
	return nil
}

func (n *Network) withModem(h func(http.ResponseWriter, *http.Request, *Modem)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		imei := r.PathValue("imei")
		m := n.ModemByIMEI(imei)
		if m == nil {
			writeError(w, http.StatusNotFound, fmt.Errorf("no simulated modem with IMEI %q (GET /modems lists them)", imei))
			return
		}
		h(w, r, m)
	}
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, err)
			return false
		}
		writeError(w, http.StatusBadRequest, fmt.Errorf("invalid JSON body: %w", err))
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]string{"error": err.Error()})
}
