package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/pbxgate/pbxgate/drivers/modem"
)

// modemTraceReply is the AT trace of one modem: the last lines sent to it
// ("out") and received from it ("in"), oldest first, PINs masked.
type modemTraceReply struct {
	Modem string            `json:"modem"`
	Lines []modem.TraceLine `json:"lines"`
}

func (d *daemon) modemTraceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/modems/{name}/trace", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		m, ok := d.sms.modem(name)
		if !ok {
			writeControl(w, nil, fmt.Errorf("no modem named %q (see pbxgate modems)", name))
			return
		}
		writeControl(w, modemTraceReply{Modem: name, Lines: m.Trace()}, nil)
	})
}

// cmdModemsTrace prints a modem's AT trace: pbxgate modems trace NAME.
func cmdModemsTrace(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "modems trace", "modems trace [-c FILE | --data DIR] [--json] MODEM")
	dir := dataDirFlags(env, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("give the modem name, e.g. pbxgate modems trace sim1 (pbxgate modems lists them)")
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	var rep modemTraceReply
	if err := newControlClient(dataDir).call(ctx, "GET", "/v1/modems/"+fs.Arg(0)+"/trace", nil, &rep); err != nil {
		return daemonErr(err)
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	for _, l := range rep.Lines {
		arrow := "<-" // from the modem
		if l.Dir == "out" {
			arrow = "->" // to the modem
		}
		fmt.Fprintf(env.stdout, "%s %s %s\n", l.At.Local().Format("15:04:05.000"), arrow, l.Text)
	}
	return nil
}
