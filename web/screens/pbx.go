package screens

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/users"
)

// pbxPageData is the PBX page: status for everyone, the form for admins.
type pbxPageData struct {
	*channelPage
	Editable bool
	Changed  bool
	// Choices of the selects.
	Transports, Assignments, Distributions []string
	By                                     string
	At                                     time.Time
	F                                      pbxForm
}

type pbxForm struct {
	Enabled                                     bool
	Mode, Transport, Listen, Domain, Registrar  string
	Username                                    string
	PasswordSet                                 bool
	Expiry, AllowFrom, ContactHost, PeerAddress string
	CustomerPrefix, MaxBodyBytes                string
	DefaultChannel, IdleTimeout                 string
	Channels                                    []string
	Routes                                      []routeRow
	Queues                                      []queueRow
}

type routeRow struct{ Channel, To, Fallback string }

type queueRow struct {
	Name, Members, Assignment, Distribution, AnswerTimeout, Fallback string
	Days, Open, Close, OutOfHours, AutoReply                         string
}

func formFromSIP(s config.SIP, channels []string) pbxForm {
	f := pbxForm{Enabled: s.Enabled, Mode: s.Mode, Transport: s.Transport, Listen: s.Listen, Domain: s.Domain,
		Registrar: s.Registrar, Username: s.Username, PasswordSet: s.Password != "", Expiry: app.FmtDur(s.Expiry),
		AllowFrom: strings.Join(s.AllowFrom, ", "), ContactHost: s.ContactHost, PeerAddress: s.PeerAddress,
		CustomerPrefix: s.CustomerPrefix, MaxBodyBytes: strconv.Itoa(s.MaxBodyBytes),
		DefaultChannel: s.Sessions.DefaultChannel, IdleTimeout: app.FmtDur(s.Sessions.IdleTimeout), Channels: channels}
	for _, ch := range channels {
		row := routeRow{Channel: ch}
		for _, r := range s.Sessions.Routes {
			if r.Channel == ch {
				row.To, row.Fallback = r.To, r.Fallback
			}
		}
		f.Routes = append(f.Routes, row)
	}
	for _, q := range s.Sessions.Queues {
		row := queueRow{Name: q.Name, Members: strings.Join(q.Members, ", "), Assignment: q.Assignment, Distribution: q.Distribution,
			AnswerTimeout: app.FmtDur(q.AnswerTimeout), Fallback: q.Fallback, OutOfHours: q.OutOfHours, AutoReply: q.AutoReply}
		if q.Hours != nil {
			row.Days, row.Open, row.Close = strings.Join(q.Hours.Days, ", "), q.Hours.Open, q.Hours.Close
		}
		f.Queues = append(f.Queues, row)
	}
	// One empty row to add a queue.
	f.Queues = append(f.Queues, queueRow{})
	return f
}

func splitList(s string) []string {
	var out []string
	return append(out, strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' })...)
}

// sipFromForm applies the submitted form to cur (keeping what the form
// does not show: TLS files, remote phonebooks). Fields that do not parse
// are returned as errors keyed by form field.
func sipFromForm(c *gin.Context, cur config.SIP, channels []string) (config.SIP, pbxForm, map[string]string) {
	errs := map[string]string{}
	s := cur
	f := pbxForm{Enabled: c.PostForm("enabled") == "on", Mode: c.PostForm("mode"), Transport: c.PostForm("transport"),
		Listen: strings.TrimSpace(c.PostForm("listen")), Domain: strings.TrimSpace(c.PostForm("domain")),
		Registrar: strings.TrimSpace(c.PostForm("registrar")), Username: strings.TrimSpace(c.PostForm("username")),
		PasswordSet: cur.Password != "", Expiry: strings.TrimSpace(c.PostForm("expiry")),
		AllowFrom: strings.TrimSpace(c.PostForm("allow_from")), ContactHost: strings.TrimSpace(c.PostForm("contact_host")),
		PeerAddress: strings.TrimSpace(c.PostForm("peer_address")), CustomerPrefix: strings.TrimSpace(c.PostForm("customer_prefix")),
		MaxBodyBytes: strings.TrimSpace(c.PostForm("max_body_bytes")), DefaultChannel: c.PostForm("default_channel"),
		IdleTimeout: strings.TrimSpace(c.PostForm("idle_timeout")), Channels: channels}
	s.Enabled, s.Mode, s.Transport, s.Listen, s.Domain = f.Enabled, f.Mode, f.Transport, f.Listen, f.Domain
	s.Registrar, s.Username, s.AllowFrom, s.ContactHost = f.Registrar, f.Username, splitList(f.AllowFrom), f.ContactHost
	s.PeerAddress, s.CustomerPrefix, s.Sessions.DefaultChannel = f.PeerAddress, f.CustomerPrefix, f.DefaultChannel
	if pw := c.PostForm("password"); pw != "" {
		s.Password = config.Secret(pw)
	} else if c.PostForm("password_clear") == "on" {
		s.Password = ""
	}
	dur := func(field, v string, dst *time.Duration) {
		if v == "" {
			*dst = 0
			return
		}
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs[field] = "pbx.err.duration"
			return
		}
		*dst = d
	}
	dur("expiry", f.Expiry, &s.Expiry)
	dur("idle_timeout", f.IdleTimeout, &s.Sessions.IdleTimeout)
	if n, err := strconv.Atoi(f.MaxBodyBytes); err != nil {
		errs["max_body_bytes"] = "pbx.err.number"
	} else {
		s.MaxBodyBytes = n
	}
	s.Sessions.Routes = nil
	for _, ch := range channels {
		row := routeRow{Channel: ch, To: strings.TrimSpace(c.PostForm("route_to|" + ch)), Fallback: strings.TrimSpace(c.PostForm("route_fallback|" + ch))}
		f.Routes = append(f.Routes, row)
		if row.To != "" || row.Fallback != "" {
			s.Sessions.Routes = append(s.Sessions.Routes, config.SessionRoute{Channel: ch, To: row.To, Fallback: row.Fallback})
		}
	}
	s.Sessions.Queues = nil
	n, _ := strconv.Atoi(c.PostForm("queues"))
	for i := 0; i < n && i < 100; i++ {
		p := func(k string) string { return strings.TrimSpace(c.PostForm(fmt.Sprintf("q%d_%s", i, k))) }
		row := queueRow{Name: p("name"), Members: p("members"), Assignment: p("assignment"), Distribution: p("distribution"),
			AnswerTimeout: p("answer_timeout"), Fallback: p("fallback"), Days: p("days"), Open: p("open"), Close: p("close"),
			OutOfHours: p("out_of_hours"), AutoReply: p("auto_reply")}
		if p("delete") == "on" || (row == queueRow{Assignment: row.Assignment, Distribution: row.Distribution}) {
			continue // removed, or the empty add-row left alone
		}
		f.Queues = append(f.Queues, row)
		q := config.MessageQueue{Name: row.Name, Members: splitList(row.Members), Assignment: row.Assignment,
			Distribution: row.Distribution, Fallback: row.Fallback, OutOfHours: row.OutOfHours, AutoReply: row.AutoReply}
		dur(fmt.Sprintf("q%d.answer_timeout", len(f.Queues)-1), row.AnswerTimeout, &q.AnswerTimeout)
		if row.Days != "" || row.Open != "" || row.Close != "" {
			q.Hours = &config.BusinessHours{Days: app.CanonicalDays(splitList(row.Days)), Open: row.Open, Close: row.Close}
		}
		s.Sessions.Queues = append(s.Sessions.Queues, q)
	}
	f.Queues = append(f.Queues, queueRow{})
	return s, f, errs
}

var (
	queueKeyRE = regexp.MustCompile(`^sip\.sessions\.queues\[(\d+)\]\.([a-z_]+)`)
	routeKeyRE = regexp.MustCompile(`^sip\.sessions\.routes\[(\d+)\]\.([a-z_]+)`)
)

// problemField maps a configuration key to the form field it belongs to.
func problemField(key string, s config.SIP) string {
	if m := queueKeyRE.FindStringSubmatch(key); m != nil {
		return "q" + m[1] + "." + m[2]
	}
	if m := routeKeyRE.FindStringSubmatch(key); m != nil {
		i, _ := strconv.Atoi(m[1])
		if i < len(s.Sessions.Routes) {
			return "route_" + m[2] + "|" + s.Sessions.Routes[i].Channel
		}
	}
	k := strings.TrimPrefix(key, "sip.")
	k = strings.TrimPrefix(k, "sessions.")
	switch k {
	case "register_expiry":
		return "expiry"
	}
	return k
}

func (s *Screens) pbxPageData(c *gin.Context) *pbxPageData {
	d := &pbxPageData{channelPage: s.channelData(c, "pbx"), Transports: []string{"udp", "tcp", "tls"},
		Assignments: []string{"manual", "auto", "none"}, Distributions: []string{"ringall", "roundrobin", "leastrecent"}}
	if s.D.PBX != nil && app.CurrentUser(c).Role == users.RoleAdmin {
		sip, changed, by, at := s.D.PBX.SIP()
		d.Editable, d.Changed, d.By, d.At = true, changed, by, at
		d.F = formFromSIP(sip, s.D.PBX.Channels())
		for i, q := range sip.Sessions.Queues {
			if q.Hours != nil && i < len(d.F.Queues) {
				d.F.Queues[i].Days = app.LocalDays(s.Lang(c), q.Hours.Days)
			}
		}
	}
	return d
}

func (s *Screens) PBXPage(c *gin.Context) {
	s.Render(c, http.StatusOK, "pbx", s.NewView(c, "pbx", "nav.pbx", s.pbxPageData(c)))
}

func (s *Screens) SavePBX(c *gin.Context) {
	if s.D.PBX == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	cur, _, _, _ := s.D.PBX.SIP()
	sip, form, errs := sipFromForm(c, cur, s.D.PBX.Channels())
	var err error
	if len(errs) == 0 {
		err = s.D.PBX.SaveSIP(c.Request.Context(), sip, app.CurrentUser(c).Name)
	}
	var ps config.Problems
	if len(errs) > 0 || errors.As(err, &ps) {
		d := s.pbxPageData(c)
		d.F = form
		v := s.NewView(c, "pbx", "nav.pbx", d)
		for field, key := range errs {
			v.Errors[field] = v.T(key)
		}
		for _, p := range ps {
			f := problemField(p.Key, sip)
			if v.Errors[f] == "" {
				v.Errors[f] = v.T("pbx.err.invalid", p.Msg)
			}
		}
		v.Errors["form"] = v.T("pbx.err.form")
		s.Render(c, http.StatusUnprocessableEntity, "pbx", v)
		return
	}
	if err != nil {
		s.Log.Error("saving PBX settings", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "pbx.settings", sip.Registrar+sip.PeerAddress)
	s.Render(c, http.StatusOK, "restarting", s.NewView(c, "pbx", "nav.pbx", restartData{Message: "pbx.saved", Then: "/pbx"}))
	s.RestartAfterResponse(c, "PBX settings changed")
}

func (s *Screens) ResetPBX(c *gin.Context) {
	if s.D.PBX == nil {
		s.RenderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	if err := s.D.PBX.ResetSIP(c.Request.Context(), app.CurrentUser(c).Name); err != nil {
		s.Log.Error("resetting PBX settings", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.Audit(c, "pbx.reset", "")
	s.Render(c, http.StatusOK, "restarting", s.NewView(c, "pbx", "nav.pbx", restartData{Message: "pbx.reset_done", Then: "/pbx"}))
	s.RestartAfterResponse(c, "PBX settings reset")
}
