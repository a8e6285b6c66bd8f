package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"
)

// buildClusterWork runs the shared campaigns (gateway/clusterwork) on a
// clustered box: its SMS channels pull the cluster's work items for their
// SIMs, and the pool's reports on them come back through the events
// router. A box alone builds nothing.
func (d *daemon) buildClusterWork() error {
	if d.cluster == nil {
		return nil
	}
	senders := map[string]clusterwork.Sender{}
	for _, c := range d.cfg.Channels {
		ch, err := d.sms.pool.Channel(c.Name)
		if err != nil {
			return err
		}
		senders[c.Name] = ch
	}
	w := clusterwork.New(clusterwork.Config{
		Node: d.cluster, Senders: senders, Blocker: d.consent,
		Rejected: func(err error) bool { return errors.Is(err, campaign.ErrRejected) },
		Logger:   d.log.With("component", "cluster-campaigns"),
	})
	d.clusterWork = w
	d.clusterClaims.Store(w)
	d.router.Register("cluster campaigns", w, clusterwork.ErrUnknownStatus)
	d.component("cluster-campaigns", w.Run)
	return nil
}

// beforeTransmit is the SMS pool's question before a SIM transmits: a
// shared campaign's item is claimed in the cluster first (a box alone, or
// a message of its own, passes).
func (d *daemon) beforeTransmit(ctx context.Context, id string) error {
	if w := d.clusterClaims.Load(); w != nil {
		return w.BeforeTransmit(ctx, id)
	}
	if strings.HasPrefix(id, "cluster-") && d.cluster != nil {
		return fmt.Errorf("%w: the shared campaigns are not running yet", clusterwork.ErrWithdrawn)
	}
	return nil
}

var errNoCluster = errors.New("this box is not in a cluster (no cluster section in its configuration)")

func (d *daemon) clusterCampaignRoutes(mux *http.ServeMux) {
	work := func(w http.ResponseWriter) *clusterwork.Work {
		if d.clusterWork == nil {
			writeControl(w, nil, errNoCluster)
			return nil
		}
		return d.clusterWork
	}
	mux.HandleFunc("POST /v1/cluster/campaigns", func(w http.ResponseWriter, r *http.Request) {
		cw := work(w)
		if cw == nil {
			return
		}
		var s clusterwork.Spec
		if err := json.NewDecoder(r.Body).Decode(&s); err != nil {
			writeControl(w, nil, fmt.Errorf("campaign: %w", err))
			return
		}
		c, err := cw.Create(r.Context(), s)
		writeControl(w, c, err)
	})
	mux.HandleFunc("GET /v1/cluster/campaigns", func(w http.ResponseWriter, r *http.Request) {
		cw := work(w)
		if cw == nil {
			return
		}
		var out []clusterwork.Progress
		for _, c := range cw.List() {
			p, err := cw.Get(r.Context(), c.ID, false)
			if err != nil {
				writeControl(w, nil, err)
				return
			}
			out = append(out, p)
		}
		writeControl(w, out, nil)
	})
	mux.HandleFunc("GET /v1/cluster/campaigns/{id}", func(w http.ResponseWriter, r *http.Request) {
		cw := work(w)
		if cw == nil {
			return
		}
		p, err := cw.Get(r.Context(), r.PathValue("id"), r.URL.Query().Get("detail") != "")
		writeControl(w, p, err)
	})
	mux.HandleFunc("POST /v1/cluster/campaigns/{id}/{op}", func(w http.ResponseWriter, r *http.Request) {
		cw := work(w)
		if cw == nil {
			return
		}
		var (
			c   clusterwork.Campaign
			err error
		)
		switch id := r.PathValue("id"); r.PathValue("op") {
		case "stop":
			c, err = cw.Stop(r.Context(), id)
		case "resume":
			c, err = cw.Resume(r.Context(), id)
		case "delete":
			err = cw.Delete(r.Context(), id)
		default:
			err = fmt.Errorf("unknown operation %q: use stop, resume or delete", r.PathValue("op"))
		}
		writeControl(w, c, err)
	})
}

const clusterCampaignSynopsis = `cluster campaign create --name N --channel C --text T --numbers FILE | list | show ID [--detail] | stop ID | resume ID | delete ID   [-c FILE | --data DIR] [--json]`

// cmdClusterCampaign: pbxgate cluster campaign …
func cmdClusterCampaign(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageErr("%s", clusterCampaignSynopsis)
	}
	sub, args := args[0], args[1:]
	fs := newFlags(env, "cluster campaign "+sub, clusterCampaignSynopsis)
	dir := dataDirFlags(env, fs)
	asJSON := fs.Bool("json", false, "print JSON")
	name := fs.String("name", "", "campaign name (create)")
	channel := fs.String("channel", "", "SMS channel, configured with the same name on every box (create)")
	text := fs.String("text", "", "message text (create)")
	numbersFile := fs.String("numbers", "", "file with one international number (+49…) per line (create)")
	detail := fs.Bool("detail", false, "every recipient's outcome and box (show)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	dataDir, err := dir()
	if err != nil {
		return err
	}
	ctl := newControlClient(dataDir)
	id := fs.Arg(0)
	needID := func() error {
		if id == "" {
			return usageErr("pbxgate cluster campaign %s ID", sub)
		}
		return nil
	}
	var out any
	switch sub {
	case "create":
		nums, err := readNumbers(*numbersFile)
		if err != nil {
			return err
		}
		var c clusterwork.Campaign
		if err := ctl.call(ctx, "POST", "/v1/cluster/campaigns", clusterwork.Spec{Name: *name, Channel: *channel, Text: *text, Numbers: nums}, &c); err != nil {
			return daemonErr(err)
		}
		if !*asJSON {
			fmt.Fprintf(env.stdout, "shared campaign %s (%s) created with %d recipients; every box with channel %s sends it\n", c.ID, c.Name, c.Recipients, c.Channel)
			return nil
		}
		out = c
	case "list":
		var list []clusterwork.Progress
		if err := ctl.call(ctx, "GET", "/v1/cluster/campaigns", nil, &list); err != nil {
			return daemonErr(err)
		}
		if !*asJSON {
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tSTATE\tRECIPIENTS\tWAITING\tSENDING\tSENT\tDELIVERED\tFAILED\tUNKNOWN")
			for _, p := range list {
				n := p.Counts
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n", p.ID, p.Name, p.State, p.Recipients, n.Waiting, n.Sending, n.Sent, n.Delivered, n.Failed, n.Unknown)
			}
			return tw.Flush()
		}
		out = list
	case "show":
		if err := needID(); err != nil {
			return err
		}
		path := "/v1/cluster/campaigns/" + id
		if *detail {
			path += "?detail=1"
		}
		var p clusterwork.Progress
		if err := ctl.call(ctx, "GET", path, nil, &p); err != nil {
			return daemonErr(err)
		}
		if !*asJSON {
			n := p.Counts
			fmt.Fprintf(env.stdout, "%s (%s): %s, %d recipients: %d waiting, %d sending, %d sent, %d delivered, %d failed, %d unknown, %d excluded\n",
				p.ID, p.Name, p.State, p.Recipients, n.Waiting, n.Sending, n.Sent, n.Delivered, n.Failed, n.Unknown, n.Excluded)
			boxes := make([]string, 0, len(p.ByBox))
			for b := range p.ByBox {
				boxes = append(boxes, b)
			}
			sort.Strings(boxes)
			for _, b := range boxes {
				n := p.ByBox[b]
				fmt.Fprintf(env.stdout, "  box %s: %d sending, %d sent, %d delivered, %d failed, %d unknown\n", b, n.Sending, n.Sent, n.Delivered, n.Failed, n.Unknown)
			}
			return nil
		}
		out = p
	case "stop", "resume", "delete":
		if err := needID(); err != nil {
			return err
		}
		var c clusterwork.Campaign
		if err := ctl.call(ctx, "POST", "/v1/cluster/campaigns/"+id+"/"+sub, nil, &c); err != nil {
			return daemonErr(err)
		}
		if !*asJSON {
			fmt.Fprintf(env.stdout, "shared campaign %s: %s on every box\n", id, map[string]string{"stop": "stopped", "resume": "running", "delete": "deleted"}[sub])
			return nil
		}
		out = c
	default:
		return usageErr("%s", clusterCampaignSynopsis)
	}
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// readNumbers reads one number per line; blank lines and # comments are
// skipped.
func readNumbers(path string) ([]string, error) {
	if path == "" {
		return nil, usageErr("--numbers FILE is required (one international number per line)")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--numbers: %w", err)
	}
	defer f.Close()
	var nums []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		nums = append(nums, l)
	}
	return nums, sc.Err()
}
