package web

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

const (
	campaignPageSize  = 50
	recipientPageSize = 100
	maxNameLen        = 100
	// maxUpload bounds a campaign form with a CSV file; recipients.MaxFileSize
	// bounds the file itself.
	maxUpload = recipients.MaxFileSize + 1<<20
	// maxCampaignForm also fits a WhatsApp header document (Meta: 100 MB).
	maxCampaignForm = maxUpload + 100<<20
)

type campaignListData struct {
	Items  []CampaignSummary
	Total  int
	Page   int
	Pages  int
	State  string
	Search string
	States []CampaignState
	// CanDelete shows the delete buttons (the service can delete).
	CanDelete bool
	// PageURL builds the link of another page with the same filters.
	PageURL func(page int) string
}

func pageParam(c *gin.Context) int {
	p, err := strconv.Atoi(c.Query("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

func parseState(s string) (CampaignState, bool) {
	for _, st := range CampaignStates() {
		if string(st) == s {
			return st, true
		}
	}
	return "", s == ""
}

func (s *server) campaignsUnavailable(c *gin.Context) bool {
	if s.d.Campaigns != nil {
		return false
	}
	s.render(c, http.StatusOK, "unavailable", s.newView(c, "campaigns", "nav.campaigns", nil))
	return true
}

func (s *server) campaignList(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	state, _ := parseState(c.Query("state"))
	search := strings.TrimSpace(c.Query("q"))
	page := pageParam(c)
	items, total, err := s.d.Campaigns.ListCampaigns(c.Request.Context(), CampaignQuery{
		State: state, Search: search, Offset: (page - 1) * campaignPageSize, Limit: campaignPageSize})
	if err != nil {
		s.log.Error("list campaigns", "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	_, canDelete := s.d.Campaigns.(CampaignDeleter)
	d := campaignListData{Items: items, Total: total, Page: page, State: string(state), Search: search, CanDelete: canDelete,
		States: CampaignStates(), Pages: max(1, (total+campaignPageSize-1)/campaignPageSize)}
	d.PageURL = func(p int) string {
		q := url.Values{}
		if state != "" {
			q.Set("state", string(state))
		}
		if search != "" {
			q.Set("q", search)
		}
		q.Set("page", strconv.Itoa(p))
		return "/campaigns?" + q.Encode()
	}
	s.render(c, http.StatusOK, "campaigns", s.newView(c, "campaigns", "nav.campaigns", d))
}

type campaignFormData struct {
	Senders    []Sender
	DNCLists   []string
	Phonebooks []string
	// Groups are the subscriber groups (another recipient source).
	Groups   []consent.GroupSummary
	Types    []recipients.NumberType
	TypeOn   map[recipients.NumberType]bool
	Selected map[string]bool // chosen DNC lists
	Problems []recipients.Problem
	// GroupExcluded are the chosen group's members left out of the
	// campaign (opted out, blocked), reported like invalid rows.
	GroupExcluded []recipients.Problem
	Preview       *recipients.Preview
	Valid         int
	MaxChars      int
	// WhatsApp templates (approved ones) and the chosen one's key.
	Templates []campaign.TemplateInfo
	Template  string
	// EditID is the campaign being edited ("" when adding).
	EditID string
	// MediaName is the chosen template's header file for the preview.
	MediaName string
}

// Action is where the form posts.
func (d campaignFormData) Action() string {
	if d.EditID != "" {
		return "/campaigns/" + url.PathEscape(d.EditID) + "/edit"
	}
	return "/campaigns/new"
}

// TemplateKey identifies a template translation in the form.
func TemplateKey(t campaign.TemplateInfo) string { return t.Name + "|" + t.Language }

func findTemplate(list []campaign.TemplateInfo, key string) (campaign.TemplateInfo, bool) {
	for _, t := range list {
		if TemplateKey(t) == key {
			return t, true
		}
	}
	return campaign.TemplateInfo{}, false
}

func (s *server) campaignFormData(ctx context.Context) campaignFormData {
	d := campaignFormData{Selected: map[string]bool{}, MaxChars: sms.MaxChars,
		Types:  recipients.CampaignNumberTypes(),
		TypeOn: map[recipients.NumberType]bool{recipients.Mobile: true}}
	if senders, err := s.d.Campaigns.Senders(ctx); err == nil {
		d.Senders = senders
	} else {
		s.log.Error("campaign senders", "err", err)
	}
	if lists, err := recipients.NewLists(s.d.Store).All(ctx); err == nil {
		for _, l := range lists {
			d.DNCLists = append(d.DNCLists, l.Name)
		}
	}
	if s.d.Templates != nil {
		if list, err := s.d.Templates.ListTemplates(ctx); err == nil {
			for _, t := range list {
				if strings.EqualFold(t.Status, "APPROVED") {
					d.Templates = append(d.Templates, t)
				}
			}
		} else {
			s.log.Error("campaign form: WhatsApp templates", "err", err)
		}
	}
	if books, err := recipients.NewPhonebooks(s.d.Store).All(ctx); err == nil {
		for _, b := range books {
			d.Phonebooks = append(d.Phonebooks, b.Name)
		}
	}
	if s.d.Consent != nil {
		if groups, err := s.d.Consent.GroupSummaries(ctx); err == nil {
			d.Groups = groups
		} else {
			s.log.Error("campaign form: subscriber groups", "err", err)
		}
	}
	return d
}

func (s *server) campaignNew(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	v := s.newView(c, "campaigns", "campaign.new.title", s.campaignFormData(c.Request.Context()))
	v.Form["send"] = string(SendNow)
	s.render(c, http.StatusOK, "campaign_new", v)
}

// campaignForm is a parsed, validated campaign form.
type campaignForm struct {
	in       CampaignInput
	problems []recipients.Problem
	// excluded are the chosen group's members who may not be messaged.
	excluded []recipients.Problem
}

// readCampaignForm validates the add form. errs maps field → catalog key
// and arguments, translated by the caller.
func (s *server) readCampaignForm(c *gin.Context, fd campaignFormData) (campaignForm, map[string]string, *view) {
	senders := fd.Senders
	v := s.newView(c, "campaigns", "campaign.new.title", nil)
	errs := v.Errors
	f := campaignForm{}
	for _, k := range []string{"name", "sender", "numbers", "text", "send", "schedule_at", "rate", "skip_invalid", "phonebook", "group",
		"template", "mode", "target_kind", "target_id"} {
		v.Form[k] = c.PostForm(k)
	}
	in := &f.in
	in.Name = strings.TrimSpace(c.PostForm("name"))
	switch {
	case in.Name == "":
		errs["name"] = v.T("campaign.err.name_required")
	case len([]rune(in.Name)) > maxNameLen:
		errs["name"] = v.T("campaign.err.name_too_long", maxNameLen)
	}

	sender := c.PostForm("sender")
	found, kind := false, ""
	for _, sd := range senders {
		if sd.Channel+"|"+sd.ID == sender {
			in.Channel, in.Sender, kind, found = sd.Channel, sd.ID, sd.Kind, true
		}
	}
	if !found {
		errs["sender"] = v.T("campaign.err.sender")
	}

	var csvFile func() (io.ReadCloser, error)
	if fh, err := c.FormFile("csv"); err == nil && fh.Size > 0 {
		csvFile = func() (io.ReadCloser, error) { return openCSV(fh) }
	}
	var types []recipients.NumberType
	for _, t := range c.PostFormArray("number_type") {
		types = append(types, recipients.NumberType(t))
	}
	rs, probs := s.gatherRecipients(c.Request.Context(), recipients.Sources{Numbers: c.PostForm("numbers"), CSV: csvFile,
		Phonebook: c.PostForm("phonebook"), NumberTypes: types, Group: c.PostForm("group"),
		SkipInvalid: c.PostForm("skip_invalid") != "", Edit: fd.EditID != ""})
	for _, p := range probs {
		field := p.Field
		if field == "number_type" { // shown with its phonebook
			field = "phonebook"
		}
		errs[field] = v.T(p.Key, p.Args...)
	}
	f.problems = recipients.Plain(rs.Invalid)
	f.excluded = recipients.Plain(rs.Excluded)
	in.Recipients = rs.Valid

	if kind == "whatsapp" {
		in.WhatsApp = s.readTemplateForm(c, v, fd.Templates)
	} else {
		in.Text = c.PostForm("text")
		if strings.TrimSpace(in.Text) == "" {
			errs["text"] = v.T("campaign.err.text_required")
		} else if _, err := sms.PlanText(in.Text); errors.Is(err, sms.ErrTooLong) {
			errs["text"] = v.T("campaign.err.text_too_long", sms.MaxChars)
		}
	}

	in.Mode = string(campaign.Direct)
	if c.PostForm("mode") == string(campaign.Session) {
		in.Mode = string(campaign.Session)
		in.Target = campaign.Target{Kind: c.PostForm("target_kind"), ID: strings.TrimSpace(c.PostForm("target_id"))}
		if (in.Target.Kind != "extension" && in.Target.Kind != "queue") || in.Target.ID == "" {
			errs["target_id"] = v.T("campaign.err.target")
		}
	}

	in.Send = SendMode(c.PostForm("send"))
	switch in.Send {
	case SendNow, SendDraft:
	case SendSchedule:
		at, err := time.ParseInLocation("2006-01-02T15:04", c.PostForm("schedule_at"), s.location())
		switch {
		case err != nil:
			errs["schedule_at"] = v.T("campaign.err.schedule_format")
		case !at.After(s.d.Now()):
			errs["schedule_at"] = v.T("campaign.err.schedule_past")
		}
		in.ScheduleAt = at
	default:
		errs["send"] = v.T("campaign.err.send")
	}

	// Empty: the channel's own maximum (its per-SIM pacing).
	if raw := strings.TrimSpace(c.PostForm("rate")); raw != "" {
		rate, err := strconv.Atoi(raw)
		if err != nil || rate < 1 || rate > 1000 {
			errs["rate"] = v.T("campaign.err.rate", 1, 1000)
		}
		in.RatePerMinute = rate
	}
	in.DNCLists = c.PostFormArray("dnc")
	in.CreatedBy = currentUser(c).Name
	return f, errs, v
}

var errNotCSV = errors.New("not a CSV file")

// openCSV opens an uploaded file after checking its size and that it is
// text (browsers send text/csv, application/vnd.ms-excel or
// application/octet-stream for .csv, so the content decides).
func openCSV(fh *multipart.FileHeader) (multipart.File, error) {
	if fh.Size > recipients.MaxFileSize {
		return nil, fmt.Errorf("file is larger than %d MB", recipients.MaxFileSize>>20)
	}
	f, err := fh.Open()
	if err != nil {
		return nil, err
	}
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	ct := http.DetectContentType(head[:n])
	if !strings.HasPrefix(ct, "text/") {
		f.Close()
		return nil, errNotCSV
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func (s *server) campaignCreate(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxCampaignForm)
	ctx := c.Request.Context()
	fd := s.campaignFormData(ctx)
	fd.EditID = c.Param("id")
	f, errs, v := s.readCampaignForm(c, fd)
	if fd.EditID != "" {
		v.Title = "campaign.edit.title"
	}
	fd.Template = c.PostForm("template")
	fd.Problems = f.problems
	fd.GroupExcluded = f.excluded
	fd.Valid = len(f.in.Recipients)
	for _, l := range f.in.DNCLists {
		fd.Selected[l] = true
	}
	if c.PostForm("phonebook") != "" {
		fd.TypeOn = map[recipients.NumberType]bool{}
		for _, t := range c.PostFormArray("number_type") {
			fd.TypeOn[recipients.NumberType(t)] = true
		}
	}
	fd.MediaName = mediaPreviewName(v, fd.Template)
	v.Data = fd
	// "Load template" shows the chosen template's fields without judging
	// the half-filled form.
	if c.PostForm("load") != "" {
		clear(errs)
		s.render(c, http.StatusOK, "campaign_new", v)
		return
	}
	if len(errs) == 0 {
		id, err := fd.EditID, error(nil)
		if id == "" {
			id, err = s.d.Campaigns.CreateCampaign(ctx, f.in)
		} else {
			err = s.d.Campaigns.UpdateCampaign(ctx, id, f.in, len(f.in.Recipients) == 0)
		}
		var fe *FieldError
		switch {
		case errors.Is(err, ErrCampaignNotFound):
			s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
			return
		case errors.Is(err, ErrCampaignState):
			errs["form"] = v.T("campaign.err.state")
		case errors.As(err, &fe):
			errs[formField(fe.Field)] = s.fieldMessage(v, fe)
			if fe.Code == "campaign_limit" {
				errs["form_limit"] = "1"
			}
		case err != nil:
			s.log.Error("create campaign", "err", err)
			errs["form"] = v.T("error.internal")
		default:
			s.log.Info("campaign saved", "id", id, "user", f.in.CreatedBy, "recipients", len(f.in.Recipients), "send", f.in.Send)
			s.flash(c, "campaign.created_flash")
			c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(id))
			return
		}
	}
	s.render(c, http.StatusUnprocessableEntity, "campaign_new", v)
}

// formField maps engine field names to the form's.
func formField(f string) string {
	switch f {
	case "recipients":
		return "numbers"
	case "rate_per_minute":
		return "rate"
	}
	return f
}

func (s *server) fieldMessage(v *view, fe *FieldError) string {
	if key := "campaign.err." + fe.Code; fe.Code != "" && s.cat.Has(v.lang, key) {
		return v.T(key)
	}
	return fe.Message
}

// campaignPreviewCSV answers the add form's script with the detected
// columns, the first rows and the rows that will be rejected.
func (s *server) campaignPreviewCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxUpload)
	v := s.newView(c, "campaigns", "campaign.new.title", nil)
	fd := campaignFormData{}
	fh, err := c.FormFile("csv")
	if err != nil {
		v.Errors["csv"] = v.T("campaign.err.csv_missing")
	} else {
		pv, p := previewCSV(func() (io.ReadCloser, error) { return openCSV(fh) }, recipients.CSVOptions{Region: s.defaultCountry()})
		if p != nil {
			v.Errors["csv"] = v.T(p.Key, p.Args...)
		}
		fd.Preview, fd.Valid, fd.Problems = pv.Preview, pv.Valid, pv.Problems
	}
	v.Data = fd
	s.renderTemplate(c, http.StatusOK, "campaign_new", "csvpreview", v)
}

type campaignDetailData struct {
	C          CampaignDetail
	Recipients []RecipientResult
	Total      int
	Page       int
	Pages      int
	CanStop    bool
	CanRetry   bool
	CanStart   bool
	CanResume  bool
	CanDelete  bool
}

func canStop(st CampaignState) bool {
	return st == StateRunning || st == StatePending || st == StateScheduled || st == StateRetrying
}

func canRetry(c CampaignSummary) bool {
	return c.Failed > 0 && (c.State == StateCompleted || c.State == StateStopped)
}

func (s *server) campaignDetail(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	id := c.Param("id")
	cd, err := s.d.Campaigns.Campaign(ctx, id)
	if errors.Is(err, ErrCampaignNotFound) {
		s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
		return
	}
	if err != nil {
		s.log.Error("get campaign", "id", id, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	page := pageParam(c)
	rs, total, err := s.d.Campaigns.CampaignRecipients(ctx, id, (page-1)*recipientPageSize, recipientPageSize)
	if err != nil {
		s.log.Error("campaign recipients", "id", id, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d := campaignDetailData{C: cd, Recipients: rs, Total: total, Page: page,
		Pages: max(1, (total+recipientPageSize-1)/recipientPageSize), CanStop: canStop(cd.State), CanRetry: canRetry(cd.CampaignSummary),
		CanStart: cd.State == StateDraft || cd.State == StateScheduled, CanResume: cd.State == StateStopped}
	_, d.CanDelete = s.d.Campaigns.(CampaignDeleter)
	s.render(c, http.StatusOK, "campaign_detail", s.newView(c, "campaigns", "campaign.detail.title", d))
}

// campaignAction runs stop, retry or duplicate and returns to the campaign.
// doCampaignAction runs one of the campaign actions the detail page and the
// API offer; it returns the campaign to show next (the copy for duplicate).
func (s *server) doCampaignAction(c *gin.Context, action, id string) (string, error) {
	ctx := c.Request.Context()
	switch action {
	case "stop":
		return id, s.d.Campaigns.StopCampaign(ctx, id)
	case "start":
		return id, s.d.Campaigns.StartCampaign(ctx, id)
	case "resume":
		return id, s.d.Campaigns.ResumeCampaign(ctx, id)
	case "retry":
		return id, s.d.Campaigns.RetryFailed(ctx, id)
	case "duplicate":
		return s.d.Campaigns.DuplicateCampaign(ctx, id, currentUser(c).Name)
	}
	return id, fmt.Errorf("unknown campaign action %q", action)
}

func (s *server) campaignAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.campaignsUnavailable(c) {
			return
		}
		id := c.Param("id")
		target, err := s.doCampaignAction(c, action, id)
		var fe *FieldError
		switch {
		case errors.As(err, &fe):
			// e.g. duplicating at campaigns.max_campaigns: the reason in the
			// user's language, not a 500.
			v := s.newView(c, "campaigns", "error.title", "campaign.err.state")
			v.Errors["message"] = s.fieldMessage(v, fe)
			if fe.Code == "campaign_limit" {
				v.Errors["campaign_limit"] = "1"
			}
			s.render(c, http.StatusUnprocessableEntity, "error", v)
			return
		case errors.Is(err, ErrCampaignNotFound):
			s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
			return
		case errors.Is(err, ErrCampaignState):
			s.flash(c, "campaign.err.state")
			target = id
		case err != nil:
			s.log.Error("campaign action", "action", action, "id", id, "err", err)
			s.renderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.log.Info("campaign action", "action", action, "id", id, "user", currentUser(c).Name)
			s.flash(c, "campaign.done."+action)
		}
		c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(target))
	}
}

// campaignDelete deletes a campaign (after requireConfirm); a sending one
// is stopped first.
func (s *server) campaignDelete(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	del, ok := s.d.Campaigns.(CampaignDeleter)
	if !ok {
		s.renderError(c, http.StatusNotFound, "error.not_found")
		return
	}
	id := c.Param("id")
	switch err := del.DeleteCampaign(c.Request.Context(), id); {
	case errors.Is(err, ErrCampaignNotFound):
		s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
	case errors.Is(err, ErrCampaignState):
		s.flash(c, "campaign.err.state")
		c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(id))
	case err != nil:
		s.log.Error("delete campaign", "id", id, "err", err)
		s.renderError(c, http.StatusInternalServerError, "error.internal")
	default:
		s.log.Info("campaign deleted", "id", id, "user", currentUser(c).Name)
		s.flash(c, "campaign.done.delete")
		c.Redirect(http.StatusSeeOther, "/campaigns")
	}
}

// campaignExport streams every recipient's result as CSV.
func (s *server) campaignExport(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	id := c.Param("id")
	cd, err := s.d.Campaigns.Campaign(ctx, id)
	if errors.Is(err, ErrCampaignNotFound) {
		s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
		return
	}
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	s.writeCampaignCSV(c, cd)
}

// writeCampaignCSV streams every recipient's result of campaign cd as a
// CSV download (the portal's and the API's export).
func (s *server) writeCampaignCSV(c *gin.Context, cd CampaignDetail) {
	ctx := c.Request.Context()
	id := cd.ID
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "campaign-"+sanitizeFilename(cd.ID)+".csv"))
	var out io.Writer = c.Writer
	var loc *csvLocalizer
	if !isAPI(c) {
		// The portal's download speaks the user's language.
		loc = &csvLocalizer{v: s.newView(c, "", "", nil)}
	}
	if ex, ok := s.d.Campaigns.(CampaignExporter); ok {
		export := func(w io.Writer) error { return ex.ExportCampaignCSV(ctx, id, w) }
		var err error
		if loc != nil {
			err = loc.localizedExport(out, export)
		} else {
			err = export(out)
		}
		if err != nil {
			s.log.Error("export campaign", "id", id, "err", err)
			panic(http.ErrAbortHandler) // a truncated file must not look complete
		}
		return
	}
	w := csv.NewWriter(out)
	head := []string{"number", "state", "attempts", "updated", "error"}
	if loc != nil {
		for i, h := range head {
			head[i] = loc.head(h)
		}
	}
	_ = w.Write(head)
	for off := 0; ; off += 500 {
		rs, total, err := s.d.Campaigns.CampaignRecipients(ctx, id, off, 500)
		if err != nil {
			s.log.Error("export campaign", "id", id, "err", err)
			panic(http.ErrAbortHandler) // a truncated file must not look complete
		}
		for _, r := range rs {
			upd := ""
			if !r.Updated.IsZero() {
				upd = r.Updated.UTC().Format(time.RFC3339)
			}
			st := r.State
			if loc != nil {
				st = loc.v.RecipientState(st)
			}
			_ = w.Write(campaign.CSVCells([]string{r.Number, st, strconv.Itoa(r.Attempts), upd, r.Error}))
		}
		if len(rs) == 0 || off+len(rs) >= total {
			break
		}
	}
	w.Flush()
}

func sanitizeFilename(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// readTemplateForm reads the WhatsApp template, its variable values and its
// header (media URL/ID or a Google Maps location), reporting problems
// next to their fields.
func (s *server) readTemplateForm(c *gin.Context, v *view, templates []campaign.TemplateInfo) *campaign.WhatsAppContent {
	key := c.PostForm("template")
	t, ok := findTemplate(templates, key)
	if !ok {
		v.Errors["template"] = v.T("campaign.err.template")
		return nil
	}
	wa := &campaign.WhatsAppContent{Template: t.Name, Language: t.Language, Values: map[string]string{}}
	for _, name := range t.Variables {
		field := "var|" + key + "|" + name
		val := strings.TrimSpace(c.PostForm(field))
		v.Form[field] = val
		if val == "" {
			v.Errors[field] = v.T("campaign.err.var_required")
		}
		wa.Values[name] = val
	}
	switch h := strings.ToUpper(t.Header); h {
	case "IMAGE", "VIDEO", "DOCUMENT":
		wa.Header = s.readHeaderMedia(c, v, key, h)
	case "LOCATION":
		mapsField, addrField := "maps|"+key, "address|"+key
		v.Form[mapsField], v.Form[addrField] = c.PostForm(mapsField), c.PostForm(addrField)
		loc, err := campaign.ParseMapsURL(strings.TrimSpace(c.PostForm(mapsField)))
		if err != nil {
			v.Errors[mapsField] = v.T("campaign.err.maps", err.Error())
		}
		loc.Address = strings.TrimSpace(c.PostForm(addrField))
		if loc.Address == "" {
			v.Errors[addrField] = v.T("campaign.err.address")
		}
		wa.Header = &campaign.Header{Type: "location", Location: &loc}
	}
	return wa
}

// readHeaderMedia reads a media header: an uploaded file (checked and
// taken to Meta now; its media id then stands in the URL/ID field, so a
// form sent back with other errors does not upload it again) or a typed
// HTTPS URL or media id.
func (s *server) readHeaderMedia(c *gin.Context, v *view, key, format string) *campaign.Header {
	field, fileField := "media|"+key, "mediafile|"+key
	refField, nameField := "mediaref|"+key, "medianame|"+key
	hdr := &campaign.Header{Type: strings.ToLower(format)}
	ref := strings.TrimSpace(c.PostForm(field))
	// The file name of an earlier upload, as long as its id is unchanged.
	name := ""
	if c.PostForm(refField) == ref {
		name = c.PostForm(nameField)
	}
	if fh, err := c.FormFile(fileField); err == nil && fh.Size > 0 && c.PostForm("load") == "" {
		um, err := s.headerMediaUpload(c.Request.Context(), format, fh)
		if err != nil {
			s.log.Info("campaign header media refused", "file", fh.Filename, "err", err)
			v.Errors[fileField] = s.mediaErrorText(v, err, whatsapp.HeaderMediaTypes(format))
		} else {
			s.log.Info("campaign header media uploaded", "id", um.ID, "type", um.MimeType, "size", um.Size, "user", currentUser(c).Name)
			ref, name = um.ID, um.Filename
		}
	}
	v.Form[field], v.Form[refField], v.Form[nameField] = ref, ref, name
	if name == "" && ref != "" {
		v.Form[refField] = ""
	}
	switch {
	case v.Errors[fileField] != "":
	case strings.HasPrefix(ref, "https://"):
		hdr.MediaURL = ref
	case ref != "" && strings.Trim(ref, "0123456789") == "":
		hdr.MediaID = ref
		// Meta shows a document's file name; images and videos have none.
		if hdr.Type == "document" && name != "" {
			hdr.Filename = name
		}
	case ref == "":
		v.Errors[field] = v.T("media.err.missing")
	default:
		v.Errors[field] = v.T("campaign.err.media")
	}
	return hdr
}

// mediaPreviewName is what the preview shows for a media header: the
// uploaded file's name, else the URL's or id's last part.
func mediaPreviewName(v *view, key string) string {
	if n := v.Form["medianame|"+key]; n != "" {
		return n
	}
	ref := v.Form["media|"+key]
	return ref[strings.LastIndex(ref, "/")+1:]
}

// campaignEdit shows the add form filled with a draft or scheduled
// campaign; recipients stay unless new ones are given.
func (s *server) campaignEdit(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	ctx := c.Request.Context()
	cd, err := s.d.Campaigns.Campaign(ctx, c.Param("id"))
	if errors.Is(err, ErrCampaignNotFound) {
		s.renderError(c, http.StatusNotFound, "campaign.err.not_found")
		return
	}
	if err != nil {
		s.renderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	if cd.State != StateDraft && cd.State != StateScheduled {
		s.flash(c, "campaign.err.state")
		c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(cd.ID))
		return
	}
	fd := s.campaignFormData(ctx)
	fd.EditID = cd.ID
	for _, l := range cd.DNCLists {
		fd.Selected[l] = true
	}
	v := s.newView(c, "campaigns", "campaign.edit.title", fd)
	v.Form["name"], v.Form["sender"], v.Form["text"] = cd.Name, cd.Channel+"|"+cd.Sender, cd.Text
	v.Form["mode"], v.Form["target_kind"], v.Form["target_id"] = cd.Mode, cd.Target.Kind, cd.Target.ID
	if cd.RatePerMinute > 0 {
		v.Form["rate"] = strconv.Itoa(cd.RatePerMinute)
	}
	v.Form["send"] = string(SendDraft)
	if cd.State == StateScheduled {
		v.Form["send"] = string(SendSchedule)
		v.Form["schedule_at"] = cd.ScheduledAt.In(s.location()).Format("2006-01-02T15:04")
	}
	if wa := cd.WhatsApp; wa != nil {
		key := wa.Template + "|" + wa.Language
		fd.Template = key
		v.Data = fd
		for k, val := range wa.Values {
			v.Form["var|"+key+"|"+k] = val
		}
		if h := wa.Header; h != nil && h.Location == nil {
			v.Form["media|"+key] = h.MediaID + h.MediaURL
			if h.Filename != "" {
				v.Form["mediaref|"+key], v.Form["medianame|"+key] = h.MediaID, h.Filename
			}
			fd.MediaName = mediaPreviewName(v, key)
			v.Data = fd
		}
	}
	s.render(c, http.StatusOK, "campaign_new", v)
}
