package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"

	"github.com/pbxgate/pbxgate/drivers/modem"
	"github.com/pbxgate/pbxgate/drivers/smspool"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

type modemsReply struct {
	Modems       []modemView            `json:"modems"`
	Channels     []smspool.ChannelState `json:"channels"`
	Unconfigured []modem.Candidate      `json:"unconfigured,omitempty"`
}

type ussdRequest struct {
	Modem string `json:"modem"`
	Code  string `json:"code"`
}

type ussdReply struct {
	Answer string `json:"answer"`
}

type sendRequest struct {
	Channel string `json:"channel"`
	Sender  string `json:"sender,omitempty"`
	To      string `json:"to"`
	Text    string `json:"text"`
}

type sendReply struct {
	ID      string          `json:"id"`
	Message smspool.Message `json:"message"`
}

func (d *daemon) smsControlRoutes(mux *http.ServeMux) {
	d.modemTraceRoutes(mux)
	mux.HandleFunc("GET /v1/modems", func(w http.ResponseWriter, r *http.Request) {
		writeControl(w, modemsReply{Modems: d.sms.modemViews(), Channels: d.sms.pool.ChannelStates(), Unconfigured: d.sms.unconfiguredModems()}, nil)
	})
	mux.HandleFunc("POST /v1/ussd", func(w http.ResponseWriter, r *http.Request) {
		var req ussdRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeControl(w, nil, err)
			return
		}
		m, ok := d.sms.modem(req.Modem)
		if !ok {
			writeControl(w, nil, fmt.Errorf("no modem named %q (see pbxgate modems)", req.Modem))
			return
		}
		answer, err := m.USSD(r.Context(), req.Code)
		writeControl(w, ussdReply{Answer: answer}, err)
	})
	mux.HandleFunc("POST /v1/send", func(w http.ResponseWriter, r *http.Request) {
		var req sendRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeControl(w, nil, err)
			return
		}
		to, err := recipients.Normalize(req.To, d.cfg.Region.DefaultCountry)
		if err != nil {
			writeControl(w, nil, err)
			return
		}
		id := "cli-" + randomID()
		err = d.sms.pool.Enqueue(r.Context(), message.Outbound{ID: id, Channel: req.Channel, Sender: req.Sender, To: to, Text: req.Text, DeliveryReport: true})
		if err != nil {
			writeControl(w, nil, err)
			return
		}
		msg, err := d.sms.pool.Status(id)
		writeControl(w, sendReply{ID: id, Message: msg}, err)
	})
	mux.HandleFunc("GET /v1/send/{id}", func(w http.ResponseWriter, r *http.Request) {
		msg, err := d.sms.pool.Status(r.PathValue("id"))
		writeControl(w, sendReply{ID: r.PathValue("id"), Message: msg}, err)
	})
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func cmdModems(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 && args[0] == "trace" {
		return cmdModemsTrace(ctx, env, args[1:])
	}
	fs := newFlags(env, "modems", "modems [-c FILE | --data DIR] [--json]")
	dir := dataDirFlags(env, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	var rep modemsReply
	if err := newControlClient(dataDir).call(ctx, "GET", "/v1/modems", nil, &rep); err != nil {
		return daemonErr(err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODEM\tSTATE\tSIGNAL\tOPERATOR\tREG\tMODEL\tIMEI\tNUMBER\tDEVICE")
	for _, m := range rep.Modems {
		signal := "-"
		if m.Info.SignalDBm != 0 {
			signal = fmt.Sprintf("%d dBm (%d/5)", m.Info.SignalDBm, m.Info.SignalBars)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.State, signal, dash(m.Info.Operator),
			dash(m.Info.Registration), dash(m.Info.Model), dash(m.Info.IMEI), dash(m.Info.Number), dash(m.Info.Device))
	}
	tw.Flush()
	fmt.Fprintln(env.stdout)
	tw = tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tQUEUED\tSIM\tSENT TODAY\tSTATE")
	for _, c := range rep.Channels {
		for _, s := range c.SIMs {
			state := "ready"
			if s.Blocked != "" {
				state = s.Blocked
			}
			today := fmt.Sprint(s.SentToday)
			if s.DailyCap > 0 {
				today += fmt.Sprintf("/%d", s.DailyCap)
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", c.Name, c.Queued, s.Name, today, state)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Unconfigured) > 0 {
		fmt.Fprintln(env.stdout, "\nFound but not configured (add under modems.devices to use):")
		tw = tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tMODEL\tUSB\tSERIAL")
		for _, c := range rep.Unconfigured {
			fmt.Fprintf(tw, "%s\t%s\t%s:%s\t%s\n", c.Path, c.Model, c.VID, c.PID, dash(c.Serial))
		}
		return tw.Flush()
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func daemonErr(err error) error {
	if errors.Is(err, errDaemonNotRunning) {
		return fmt.Errorf("%w: start it (systemctl start pbxgate, or make run) and try again", err)
	}
	return err
}

func cmdUSSD(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "ussd", "ussd [-c FILE | --data DIR] MODEM CODE   e.g. pbxgate ussd ec25-1 '*100#'")
	dir := dataDirFlags(env, fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usageErr("give the modem name and the USSD code, e.g. pbxgate ussd sim1 '*100#'")
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	var rep ussdReply
	if err := newControlClient(dataDir).call(ctx, "POST", "/v1/ussd", ussdRequest{Modem: fs.Arg(0), Code: fs.Arg(1)}, &rep); err != nil {
		return daemonErr(err)
	}
	fmt.Fprintln(env.stdout, rep.Answer)
	return nil
}

func cmdSend(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "send", "send [-c FILE | --data DIR] [--sender SIM] [--wait 60s] CHANNEL NUMBER TEXT")
	dir := dataDirFlags(env, fs)
	sender := fs.String("sender", "", "send from this SIM (modem name or number) only")
	wait := fs.Duration("wait", 0, "wait up to this long for the message to be sent or delivered")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return usageErr("give the channel, the number and the text, e.g. pbxgate send sms +4917012345678 'Hallo'")
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	ctl := newControlClient(dataDir)
	var rep sendReply
	if err := ctl.call(ctx, "POST", "/v1/send", sendRequest{Channel: fs.Arg(0), Sender: *sender, To: fs.Arg(1), Text: fs.Arg(2)}, &rep); err != nil {
		return daemonErr(err)
	}
	fmt.Fprintf(env.stdout, "%s: %s\n", rep.ID, rep.Message.Status)
	deadline := time.Now().Add(*wait)
	last := rep.Message.Status
	for *wait > 0 && !last.IsFinal() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if err := ctl.call(ctx, "GET", "/v1/send/"+rep.ID, nil, &rep); err != nil {
			return daemonErr(err)
		}
		if rep.Message.Status != last {
			last = rep.Message.Status
			fmt.Fprintf(env.stdout, "%s: %s %s\n", rep.ID, last, rep.Message.SIM)
		}
	}
	if last == message.Failed {
		return fmt.Errorf("not sent: %s", rep.Message.Reason)
	}
	return nil
}
