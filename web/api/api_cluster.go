package api

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/clusterwork"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/web/app"
)

// apiClusterRequest is POST /api/v1/cluster/campaigns: a shared campaign
// with the usual recipient sources.
type apiClusterRequest struct {
	Name        string                  `json:"name"`
	Channel     string                  `json:"channel"`
	Text        string                  `json:"text"`
	Numbers     []string                `json:"numbers"`
	CSV         string                  `json:"csv"`
	Phonebook   string                  `json:"phonebook"`
	NumberType  []recipients.NumberType `json:"number_type"`
	Group       string                  `json:"group"`
	SkipInvalid bool                    `json:"skip_invalid"`
}

// clusterOff answers 404 on a box without a cluster section.
func (s *API) clusterOff(c *gin.Context) bool {
	if s.D.Cluster != nil {
		return false
	}
	app.APIError(c, http.StatusNotFound, "no_cluster", "this box is not in a cluster (no cluster section in its configuration)", "")
	return true
}

func (s *API) apiClusterErr(c *gin.Context, err error) {
	switch {
	case errors.Is(err, clusterwork.ErrNotFound):
		app.APIError(c, http.StatusNotFound, "not_found", err.Error(), "")
	case errors.Is(err, clusterwork.ErrInvalid):
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", err.Error(), "numbers")
	default:
		s.Log.Error("api: shared campaign", "err", err)
		app.APIError(c, http.StatusServiceUnavailable, "cluster_unavailable", "the cluster did not answer (no leader or quorum yet); try again in a few seconds", "")
	}
}

// APICluster is GET /cluster: the members, their health and the leader.
func (s *API) APICluster(c *gin.Context) {
	if s.clusterOff(c) {
		return
	}
	st, err := s.D.Cluster.Status()
	if err != nil {
		s.apiClusterErr(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": st, "healthy": st.Healthy(), "complete": st.Complete()})
}

// APIClusterCampaigns is GET /cluster/campaigns.
func (s *API) APIClusterCampaigns(c *gin.Context) {
	if s.clusterOff(c) {
		return
	}
	list, partial := app.SharedProgress(c.Request.Context(), s.D.Cluster)
	if list == nil {
		list = []clusterwork.Progress{}
	}
	c.JSON(http.StatusOK, gin.H{"items": list, "partial": partial})
}

// APIClusterCampaign is GET /cluster/campaigns/{id} (?detail=1: every
// recipient's outcome and box).
func (s *API) APIClusterCampaign(c *gin.Context) {
	if s.clusterOff(c) {
		return
	}
	p, err := s.D.Cluster.Get(c.Request.Context(), c.Param("id"), c.Query("detail") != "")
	if err != nil {
		s.apiClusterErr(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// APIClusterCreate is POST /cluster/campaigns.
func (s *API) APIClusterCreate(c *gin.Context) {
	if s.clusterOff(c) {
		return
	}
	var req apiClusterRequest
	if !app.BindJSON(c, &req, `{"name":"…","channel":"sms","text":"…","numbers":["+49…"]}`) {
		return
	}
	fail := func(field, msg string) {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", msg, field)
	}
	switch {
	case strings.TrimSpace(req.Name) == "":
		fail("name", "name is required")
		return
	case !slices.Contains(s.D.Cluster.Channels(), req.Channel):
		fail("channel", "channel must name an SMS channel of this box ("+strings.Join(s.D.Cluster.Channels(), ", ")+"); it needs the same name on every box")
		return
	case strings.TrimSpace(req.Text) == "":
		fail("text", "text is required")
		return
	}
	for _, t := range req.NumberType {
		if !slices.Contains(recipients.CampaignNumberTypes(), t) {
			fail("number_type", "number_type must list mobile, work, home or other")
			return
		}
	}
	src := recipients.Sources{Numbers: strings.Join(req.Numbers, "\n"), Phonebook: req.Phonebook,
		NumberTypes: req.NumberType, Group: req.Group, SkipInvalid: req.SkipInvalid}
	if req.CSV != "" {
		src.CSV = func() (io.ReadCloser, error) { return app.OpenCSVText(req.CSV) }
	}
	rs, probs := s.GatherRecipients(c.Request.Context(), src)
	if !s.apiRecipientsAccepted(c, rs, probs, "csv") {
		return
	}
	spec := clusterwork.Spec{Name: strings.TrimSpace(req.Name), Channel: req.Channel, Text: req.Text}
	for _, r := range rs.Valid {
		spec.Numbers = append(spec.Numbers, r.Number)
	}
	camp, err := s.D.Cluster.Create(c.Request.Context(), spec)
	if err != nil {
		s.apiClusterErr(c, err)
		return
	}
	s.Audit(c, "cluster.campaign.create", camp.Name+" ("+camp.ID+")")
	c.JSON(http.StatusCreated, camp)
}

// APIClusterAction is POST /cluster/campaigns/{id}/stop|resume and
// DELETE /cluster/campaigns/{id}: on every box.
func (s *API) APIClusterAction(op string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.clusterOff(c) {
			return
		}
		ctx, id := c.Request.Context(), c.Param("id")
		var (
			camp clusterwork.Campaign
			err  error
		)
		switch op {
		case "stop":
			camp, err = s.D.Cluster.Stop(ctx, id)
		case "resume":
			camp, err = s.D.Cluster.Resume(ctx, id)
		case "delete":
			err = s.D.Cluster.Delete(ctx, id)
		}
		if err != nil {
			s.apiClusterErr(c, err)
			return
		}
		s.Audit(c, "cluster.campaign."+op, id)
		if op == "delete" {
			c.Status(http.StatusNoContent)
			return
		}
		c.JSON(http.StatusOK, camp)
	}
}
