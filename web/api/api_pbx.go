package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/config"
)

// pbxJSON is the API's shape of the PBX settings.
type pbxJSON struct {
	Enabled        bool        `json:"enabled"`
	Mode           string      `json:"mode"`
	Transport      string      `json:"transport"`
	Listen         string      `json:"listen"`
	Domain         string      `json:"domain"`
	Registrar      string      `json:"registrar"`
	Username       string      `json:"username"`
	Password       *string     `json:"password,omitempty"` // PUT only; absent keeps it
	PasswordSet    bool        `json:"password_set"`
	RegisterExpiry string      `json:"register_expiry"`
	AllowFrom      []string    `json:"allow_from"`
	ContactHost    string      `json:"contact_host"`
	PeerAddress    string      `json:"peer_address"`
	CustomerPrefix string      `json:"customer_prefix"`
	MaxBodyBytes   int         `json:"max_body_bytes"`
	DefaultChannel string      `json:"default_channel"`
	IdleTimeout    string      `json:"idle_timeout"`
	Routes         []routeJSON `json:"routes"`
	Queues         []queueJSON `json:"queues"`
	// GET only.
	ChangedInPortal bool       `json:"changed_in_portal"`
	ChangedBy       string     `json:"changed_by,omitempty"`
	ChangedAt       *time.Time `json:"changed_at,omitempty"`
}

type routeJSON struct {
	Channel  string `json:"channel"`
	To       string `json:"to"`
	Fallback string `json:"fallback,omitempty"`
}

type queueJSON struct {
	Name          string   `json:"name"`
	Members       []string `json:"members"`
	Assignment    string   `json:"assignment,omitempty"`
	Distribution  string   `json:"distribution,omitempty"`
	AnswerTimeout string   `json:"answer_timeout,omitempty"`
	Fallback      string   `json:"fallback,omitempty"`
	Days          []string `json:"days,omitempty"`
	Open          string   `json:"open,omitempty"`
	Close         string   `json:"close,omitempty"`
	OutOfHours    string   `json:"out_of_hours,omitempty"`
	AutoReply     string   `json:"auto_reply,omitempty"`
}

func toJSON(s config.SIP) pbxJSON {
	j := pbxJSON{Enabled: s.Enabled, Mode: s.Mode, Transport: s.Transport, Listen: s.Listen, Domain: s.Domain,
		Registrar: s.Registrar, Username: s.Username, PasswordSet: s.Password != "", RegisterExpiry: app.FmtDur(s.Expiry),
		AllowFrom: app.NonNil(s.AllowFrom), ContactHost: s.ContactHost, PeerAddress: s.PeerAddress, CustomerPrefix: s.CustomerPrefix,
		MaxBodyBytes: s.MaxBodyBytes, DefaultChannel: s.Sessions.DefaultChannel, IdleTimeout: app.FmtDur(s.Sessions.IdleTimeout),
		Routes: []routeJSON{}, Queues: []queueJSON{}}
	for _, r := range s.Sessions.Routes {
		j.Routes = append(j.Routes, routeJSON(r))
	}
	for _, q := range s.Sessions.Queues {
		qj := queueJSON{Name: q.Name, Members: q.Members, Assignment: q.Assignment, Distribution: q.Distribution,
			AnswerTimeout: app.FmtDur(q.AnswerTimeout), Fallback: q.Fallback, OutOfHours: q.OutOfHours, AutoReply: q.AutoReply}
		if q.Hours != nil {
			qj.Days, qj.Open, qj.Close = q.Hours.Days, q.Hours.Open, q.Hours.Close
		}
		j.Queues = append(j.Queues, qj)
	}
	return j
}

// fromJSON applies a PUT body to cur; bad durations are problems.
func fromJSON(j pbxJSON, cur config.SIP) (config.SIP, config.Problems) {
	var ps config.Problems
	dur := func(key, v string) time.Duration {
		if v == "" {
			return 0
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			ps = append(ps, config.Problem{Key: key, Msg: fmt.Sprintf("%q is not a duration (e.g. 90s, 2m, 24h)", v)})
		}
		return d
	}
	s := cur
	s.Enabled, s.Mode, s.Transport, s.Listen, s.Domain = j.Enabled, j.Mode, j.Transport, j.Listen, j.Domain
	s.Registrar, s.Username, s.AllowFrom, s.ContactHost = j.Registrar, j.Username, j.AllowFrom, j.ContactHost
	s.PeerAddress, s.CustomerPrefix, s.MaxBodyBytes = j.PeerAddress, j.CustomerPrefix, j.MaxBodyBytes
	if j.Password != nil {
		s.Password = config.Secret(*j.Password)
	}
	s.Expiry = dur("sip.register_expiry", j.RegisterExpiry)
	s.Sessions.DefaultChannel = j.DefaultChannel
	s.Sessions.IdleTimeout = dur("sip.sessions.idle_timeout", j.IdleTimeout)
	s.Sessions.Routes, s.Sessions.Queues = nil, nil
	for _, r := range j.Routes {
		s.Sessions.Routes = append(s.Sessions.Routes, config.SessionRoute(r))
	}
	for i, q := range j.Queues {
		mq := config.MessageQueue{Name: q.Name, Members: q.Members, Assignment: q.Assignment, Distribution: q.Distribution,
			AnswerTimeout: dur(fmt.Sprintf("sip.sessions.queues[%d].answer_timeout", i), q.AnswerTimeout),
			Fallback:      q.Fallback, OutOfHours: q.OutOfHours, AutoReply: q.AutoReply}
		if len(q.Days) > 0 || q.Open != "" || q.Close != "" {
			mq.Hours = &config.BusinessHours{Days: q.Days, Open: q.Open, Close: q.Close}
		}
		s.Sessions.Queues = append(s.Sessions.Queues, mq)
	}
	return s, ps
}

func (s *API) apiPBXReady(c *gin.Context) bool {
	return apiHas(c, s.D.PBX != nil, "PBX settings are")
}

// APIPBXSettings shows the PBX settings (the password only as set/unset).
func (s *API) APIPBXSettings(c *gin.Context) {
	if !s.apiPBXReady(c) {
		return
	}
	sip, changed, by, at := s.D.PBX.SIP()
	j := toJSON(sip)
	j.ChangedInPortal, j.ChangedBy = changed, by
	if changed {
		j.ChangedAt = &at
	}
	c.JSON(http.StatusOK, j)
}

// APISavePBXSettings replaces the PBX settings and restarts the daemon to
// apply them (202).
func (s *API) APISavePBXSettings(c *gin.Context) {
	if !s.apiPBXReady(c) {
		return
	}
	var j pbxJSON
	if err := c.ShouldBindJSON(&j); err != nil {
		app.APIError(c, http.StatusBadRequest, "bad_json", "body must be the object GET /api/v1/pbx/settings returns: "+err.Error(), "")
		return
	}
	cur, _, _, _ := s.D.PBX.SIP()
	sip, ps := fromJSON(j, cur)
	var err error
	if len(ps) == 0 {
		err = s.D.PBX.SaveSIP(c.Request.Context(), sip, app.CurrentUser(c).Name)
	} else {
		err = ps
	}
	if errors.As(err, &ps) {
		app.APIError(c, http.StatusUnprocessableEntity, "invalid", ps[0].Msg, ps[0].Key)
		return
	}
	if err != nil {
		app.APIError(c, http.StatusInternalServerError, "internal", "saving the PBX settings failed; see the pbxgate log", "")
		return
	}
	s.Audit(c, "pbx.settings", sip.Registrar+sip.PeerAddress)
	c.JSON(http.StatusAccepted, gin.H{"restarting": s.D.Restart != nil})
	s.RestartAfterResponse(c, "PBX settings changed")
}
