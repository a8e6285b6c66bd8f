package screens

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/cluster"
	"github.com/pbxgate/pbxgate/gateway/clusterwork"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/app"
)

// clusterCampaignsData is the shared campaigns page: the list (counts from
// the replicated claims, the same on every box) and the form.
type clusterCampaignsData struct {
	Items    []clusterwork.Progress
	Partial  bool // some counts could not be read just now
	Channels []string
	// Recipient sources, as the campaign form has them.
	Phonebooks []string
	Types      []recipients.NumberType
	TypeOn     map[recipients.NumberType]bool
	Groups     []consent.GroupSummary
	Problems   []recipients.Problem
	Node       string
}

// clusterView is the System page's cluster section (nil on a box alone).
type clusterView struct {
	Status cluster.Status
	Err    string
}

// systemCluster reads the cluster's members for the System page.
func (s *Screens) systemCluster() *clusterView {
	if s.D.Cluster == nil {
		return nil
	}
	st, err := s.D.Cluster.Status()
	cv := &clusterView{Status: st}
	if err != nil {
		cv.Err = err.Error()
	}
	return cv
}

func (s *Screens) clusterUnavailable(c *gin.Context) bool {
	if s.D.Cluster != nil {
		return false
	}
	s.RenderError(c, http.StatusNotFound, "cluster.err.none")
	return true
}

func (s *Screens) clusterCampaignsView(c *gin.Context) *app.View {
	ctx := c.Request.Context()
	d := &clusterCampaignsData{Channels: s.D.Cluster.Channels(), Types: recipients.CampaignNumberTypes(),
		TypeOn: map[recipients.NumberType]bool{recipients.Mobile: true}}
	if st, err := s.D.Cluster.Status(); err == nil {
		d.Node = st.Node
	}
	d.Items, d.Partial = app.SharedProgress(ctx, s.D.Cluster)
	if books, err := recipients.NewPhonebooks(s.D.Store).All(ctx); err == nil {
		for _, b := range books {
			d.Phonebooks = append(d.Phonebooks, b.Name)
		}
	}
	if s.D.Consent != nil {
		d.Groups, _ = s.D.Consent.GroupSummaries(ctx)
	}
	return s.NewView(c, "campaigns", "cluster.campaigns", d)
}

// ClusterCampaigns: GET /cluster/campaigns.
func (s *Screens) ClusterCampaigns(c *gin.Context) {
	if s.clusterUnavailable(c) {
		return
	}
	v := s.clusterCampaignsView(c)
	if d := v.Data.(*clusterCampaignsData); len(d.Channels) > 0 {
		v.Form["channel"] = d.Channels[0]
	}
	s.Render(c, http.StatusOK, "cluster_campaigns", v)
}

// ClusterCampaignCreate: POST /cluster/campaigns (admin). The recipients
// come from the usual sources (recipients.Gatherer); every problem is
// shown next to its field and nothing is stored.
func (s *Screens) ClusterCampaignCreate(c *gin.Context) {
	if s.clusterUnavailable(c) {
		return
	}
	v := s.clusterCampaignsView(c)
	d := v.Data.(*clusterCampaignsData)
	for _, k := range []string{"name", "channel", "text", "numbers", "phonebook", "group"} {
		v.Form[k] = c.PostForm(k)
	}
	if c.PostForm("skip_invalid") != "" {
		v.Form["skip_invalid"] = "1"
	}
	spec := clusterwork.Spec{Name: strings.TrimSpace(c.PostForm("name")), Channel: c.PostForm("channel"), Text: c.PostForm("text")}
	if spec.Name == "" {
		v.Errors["name"] = v.T("cluster.err.name")
	}
	found := false
	for _, ch := range d.Channels {
		found = found || ch == spec.Channel
	}
	if !found {
		v.Errors["channel"] = v.T("cluster.err.channel")
	}
	if strings.TrimSpace(spec.Text) == "" {
		v.Errors["text"] = v.T("campaign.err.text_required")
	}
	var csvFile func() (io.ReadCloser, error)
	if fh, err := c.FormFile("csv"); err == nil && fh.Size > 0 {
		csvFile = func() (io.ReadCloser, error) { return app.OpenCSV(fh) }
	}
	var types []recipients.NumberType
	d.TypeOn = map[recipients.NumberType]bool{}
	for _, t := range c.PostFormArray("number_type") {
		types = append(types, recipients.NumberType(t))
		d.TypeOn[recipients.NumberType(t)] = true
	}
	rs, probs := s.GatherRecipients(c.Request.Context(), recipients.Sources{Numbers: c.PostForm("numbers"), CSV: csvFile,
		Phonebook: c.PostForm("phonebook"), NumberTypes: types, Group: c.PostForm("group"),
		SkipInvalid: c.PostForm("skip_invalid") != ""})
	for _, p := range probs {
		field := p.Field
		if field == "number_type" {
			field = "phonebook"
		}
		v.Errors[field] = v.T(p.Key, p.Args...)
	}
	d.Problems = append(recipients.Plain(rs.Invalid), recipients.Plain(rs.Excluded)...)
	for _, r := range rs.Valid {
		spec.Numbers = append(spec.Numbers, r.Number)
	}
	if len(v.Errors) > 0 {
		s.Render(c, http.StatusUnprocessableEntity, "cluster_campaigns", v)
		return
	}
	camp, err := s.D.Cluster.Create(c.Request.Context(), spec)
	if err != nil {
		if errors.Is(err, clusterwork.ErrInvalid) {
			v.Errors["numbers"] = err.Error()
		} else {
			s.Log.Error("create shared campaign", "err", err)
			v.Errors["name"] = v.T("cluster.err.unavailable")
		}
		s.Render(c, http.StatusUnprocessableEntity, "cluster_campaigns", v)
		return
	}
	s.Audit(c, "cluster.campaign.create", camp.Name+" ("+camp.ID+")")
	s.Flash(c, "cluster.created")
	c.Redirect(http.StatusSeeOther, "/cluster/campaigns")
}

// ClusterCampaignAction: POST /cluster/campaigns/:id/stop|resume|delete
// (admin; delete is confirmed).
func (s *Screens) ClusterCampaignAction(op string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.clusterUnavailable(c) {
			return
		}
		ctx, id := c.Request.Context(), c.Param("id")
		var err error
		switch op {
		case "stop":
			_, err = s.D.Cluster.Stop(ctx, id)
		case "resume":
			_, err = s.D.Cluster.Resume(ctx, id)
		case "delete":
			err = s.D.Cluster.Delete(ctx, id)
		}
		switch {
		case errors.Is(err, clusterwork.ErrNotFound):
			s.Flash(c, "cluster.err.not_found")
		case err != nil:
			s.Log.Error("shared campaign", "op", op, "id", id, "err", err)
			s.Flash(c, "cluster.err.unavailable")
		default:
			s.Audit(c, "cluster.campaign."+op, id)
			s.Flash(c, "cluster.done."+op)
		}
		c.Redirect(http.StatusSeeOther, "/cluster/campaigns")
	}
}
