package screens

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/web/app"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/drivers/whatsapp"
	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/consent"
	"github.com/pbxgate/pbxgate/gateway/message"
	"github.com/pbxgate/pbxgate/gateway/recipients"
	"github.com/pbxgate/pbxgate/gateway/sms"
)

type campaignListData struct {
	Items  []app.CampaignSummary
	Total  int
	Page   int
	Pages  int
	State  string
	Search string
	States []app.CampaignState
	// CanDelete shows the delete buttons (the service can delete).
	CanDelete bool
	// Archived: the list shows the archive; CanArchive: the service has
	// one (campaign_archive.go).
	Archived, CanArchive bool
	// PageURL builds the link of another page with the same filters.
	PageURL func(page int) string
	// Cluster: this box is clustered; the page links the shared
	// campaigns (cluster.go).
	Cluster bool
}

func pageParam(c *gin.Context) int {
	p, err := strconv.Atoi(c.Query("page"))
	if err != nil || p < 1 {
		return 1
	}
	return p
}

func (s *Screens) campaignsUnavailable(c *gin.Context) bool {
	if s.D.Campaigns != nil {
		return false
	}
	s.Render(c, http.StatusOK, "unavailable", s.NewView(c, "campaigns", "nav.campaigns", nil))
	return true
}

func (s *Screens) CampaignList(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	state, _ := app.ParseState(c.Query("state"))
	search := strings.TrimSpace(c.Query("q"))
	page := pageParam(c)
	archived := c.Query("archived") == "1"
	items, total, err := s.D.Campaigns.ListCampaigns(c.Request.Context(), app.CampaignQuery{
		State: state, Search: search, Archived: archived, Offset: (page - 1) * app.CampaignPageSize, Limit: app.CampaignPageSize})
	if err != nil {
		s.Log.Error("list campaigns", "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	_, canDelete := s.D.Campaigns.(app.CampaignDeleter)
	d := campaignListData{Items: items, Total: total, Page: page, State: string(state), Search: search, CanDelete: canDelete,
		States: app.CampaignStates(), Pages: max(1, (total+app.CampaignPageSize-1)/app.CampaignPageSize)}
	_, d.CanArchive = s.D.Campaigns.(app.CampaignArchiver)
	d.Archived = archived
	d.Cluster = s.D.Cluster != nil
	d.PageURL = func(p int) string {
		q := url.Values{}
		if archived {
			q.Set("archived", "1")
		}
		if state != "" {
			q.Set("state", string(state))
		}
		if search != "" {
			q.Set("q", search)
		}
		q.Set("page", strconv.Itoa(p))
		return "/campaigns?" + q.Encode()
	}
	s.Render(c, http.StatusOK, "campaigns", s.NewView(c, "campaigns", "nav.campaigns", d))
}

type campaignFormData struct {
	Senders    []app.Sender
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
	// TemplateQuery is the template search (name, language, category,
	// text); the picker offers TemplateOptions.
	TemplateQuery string
	// EditID is the campaign being edited ("" when adding).
	EditID string
	// MediaName is the chosen template's header file for the preview.
	MediaName string
	// HasPBX: the PBX connection is configured, so session mode (replies
	// go to an extension or queue) is offered.
	HasPBX bool
	// ContactLists are the living contact lists (contact_lists.go).
	ContactLists []recipients.ContactList
	// Reach: short links and the SMS fallback (app/reach.go).
	Reach app.ReachForm
	// Media is an SMS campaign's MMS file, MediaJSON it for the hidden
	// field, MediaFit what fitting did (campaign_media.go).
	Media     *campaign.Media
	MediaJSON string
	MediaFit  string
	mms       bool // the service fits MMS files (HasMMS)
}

// Action is where the form posts.
func (d campaignFormData) Action() string {
	if d.EditID != "" {
		return "/campaigns/" + url.PathEscape(d.EditID) + "/edit"
	}
	return "/campaigns/new"
}

// TemplateOptions are the templates the picker offers: those matching the
// search, and the chosen one.
func (d campaignFormData) TemplateOptions() []campaign.TemplateInfo {
	return app.FilterTemplates(d.Templates, d.TemplateQuery, d.Template)
}

// TemplateMatches counts the templates matching the search.
func (d campaignFormData) TemplateMatches() int {
	n := 0
	for _, t := range d.Templates {
		if app.MatchTemplate(t, d.TemplateQuery) {
			n++
		}
	}
	return n
}

func findTemplate(list []campaign.TemplateInfo, key string) (campaign.TemplateInfo, bool) {
	for _, t := range list {
		if app.TemplateKey(t) == key {
			return t, true
		}
	}
	return campaign.TemplateInfo{}, false
}

func (s *Screens) campaignFormData(ctx context.Context) campaignFormData {
	d := campaignFormData{Selected: map[string]bool{}, MaxChars: sms.MaxChars, HasPBX: s.D.Sessions != nil,
		Types:  recipients.CampaignNumberTypes(),
		TypeOn: map[recipients.NumberType]bool{recipients.Mobile: true}}
	_, d.mms = s.D.Campaigns.(app.CampaignMedia) // the MMS file field (campaign_media.go)
	if senders, err := s.D.Campaigns.Senders(ctx); err == nil {
		d.Senders = senders
	} else {
		s.Log.Error("campaign senders", "err", err)
	}
	if lists, err := recipients.NewLists(s.D.Store).All(ctx); err == nil {
		for _, l := range lists {
			d.DNCLists = append(d.DNCLists, l.Name)
		}
	}
	if s.D.Templates != nil {
		if list, err := s.D.Templates.ListTemplates(ctx); err == nil {
			for _, t := range list {
				if strings.EqualFold(t.Status, "APPROVED") {
					d.Templates = append(d.Templates, t)
				}
			}
		} else {
			s.Log.Error("campaign form: WhatsApp templates", "err", err)
		}
	}
	d.ContactLists, _ = s.ContactLists().All(ctx)
	d.Reach = s.ReachFormData(d.Senders)
	if books, err := recipients.NewPhonebooks(s.D.Store).All(ctx); err == nil {
		for _, b := range books {
			d.Phonebooks = append(d.Phonebooks, b.Name)
		}
	}
	if s.D.Consent != nil {
		if groups, err := s.D.Consent.GroupSummaries(ctx); err == nil {
			d.Groups = groups
		} else {
			s.Log.Error("campaign form: subscriber groups", "err", err)
		}
	}
	return d
}

func (s *Screens) CampaignNew(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	v := s.NewView(c, "campaigns", "campaign.new.title", s.campaignFormData(c.Request.Context()))
	v.Form["send"] = string(app.SendNow)
	s.Render(c, http.StatusOK, "campaign_new", v)
}

// campaignForm is a parsed, validated campaign form.
type campaignForm struct {
	in       app.CampaignInput
	problems []recipients.Problem
	// excluded are the chosen group's members who may not be messaged.
	excluded []recipients.Problem
}

// readCampaignForm validates the add form. errs maps field → catalog key
// and arguments, translated by the caller.
func (s *Screens) readCampaignForm(c *gin.Context, fd campaignFormData) (campaignForm, map[string]string, *app.View) {
	senders := fd.Senders
	v := s.NewView(c, "campaigns", "campaign.new.title", nil)
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
	case len([]rune(in.Name)) > app.MaxNameLen:
		errs["name"] = v.T("campaign.err.name_too_long", app.MaxNameLen)
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
		csvFile = func() (io.ReadCloser, error) { return app.OpenCSV(fh) }
	}
	var types []recipients.NumberType
	for _, t := range c.PostFormArray("number_type") {
		types = append(types, recipients.NumberType(t))
	}
	rs, probs := s.GatherRecipients(c.Request.Context(), recipients.Sources{Numbers: c.PostForm("numbers"), CSV: csvFile,
		Phonebook: c.PostForm("phonebook"), NumberTypes: types, Group: c.PostForm("group"),
		SkipInvalid: c.PostForm("skip_invalid") != "", Edit: fd.EditID != "", List: c.PostForm("list") != "",
		ChatIDs: message.Kind(kind).ByID(), IDKind: viberVKKind(kind)})
	in.List = s.readListSourceForm(c, v)
	s.readReachForm(c, v, kind, senders, in)
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
		if kind == string(message.SMS) && in.Channel != "" {
			in.Media = s.readCampaignMediaForm(c, v, in.Channel) // an MMS campaign (campaign_media.go)
		}
		if strings.TrimSpace(in.Text) == "" && in.Media == nil && errs["media"] == "" {
			errs["text"] = v.T("campaign.err.text_required")
		} else if _, err := sms.PlanText(in.Text); !message.Kind(kind).ByID() && in.Media == nil && errors.Is(err, sms.ErrTooLong) {
			errs["text"] = v.T("campaign.err.text_too_long", sms.MaxChars)
		}
	}

	in.Mode = string(campaign.Direct)
	if c.PostForm("mode") == string(campaign.Session) && s.D.Sessions == nil {
		// Offered only with a PBX; said at the field, in the user's language.
		errs["mode"] = v.T("campaign.err.no_pbx")
	} else if c.PostForm("mode") == string(campaign.Session) {
		in.Mode = string(campaign.Session)
		in.Target = campaign.Target{Kind: c.PostForm("target_kind"), ID: strings.TrimSpace(c.PostForm("target_id"))}
		if (in.Target.Kind != "extension" && in.Target.Kind != "queue") || in.Target.ID == "" {
			errs["target_id"] = v.T("campaign.err.target")
		}
	}

	in.Send = app.SendMode(c.PostForm("send"))
	switch in.Send {
	case app.SendNow, app.SendDraft:
	case app.SendSchedule:
		at, err := time.ParseInLocation("2006-01-02T15:04", c.PostForm("schedule_at"), s.Location())
		switch {
		case err != nil:
			errs["schedule_at"] = v.T("campaign.err.schedule_format")
		case !at.After(s.D.Now()):
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
	in.CreatedBy = app.CurrentUser(c).Name
	return f, errs, v
}

func (s *Screens) CampaignCreate(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxCampaignForm)
	ctx := c.Request.Context()
	fd := s.campaignFormData(ctx)
	fd.EditID = c.Param("id")
	f, errs, v := s.readCampaignForm(c, fd)
	if fd.EditID != "" {
		v.Title = "campaign.edit.title"
	}
	fd.Template = c.PostForm("template")
	fd.TemplateQuery = strings.TrimSpace(c.PostForm("template_q"))
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
	fd.setMedia(v, f.in.Media)
	v.Data = fd
	// "Load template" shows the chosen template's fields without judging
	// the half-filled form; "Check file" the MMS file's fitting.
	// "Search" narrows the template picker the same way.
	if c.PostForm("load") != "" || c.PostForm("fit_media") != "" || c.PostForm("template_search") != "" {
		media := errs["media"]
		clear(errs)
		if media != "" {
			errs["media"] = media
		}
		s.Render(c, http.StatusOK, "campaign_new", v)
		return
	}
	if len(errs) == 0 {
		id, err := fd.EditID, error(nil)
		if id == "" {
			id, err = s.D.Campaigns.CreateCampaign(ctx, f.in)
		} else {
			err = s.D.Campaigns.UpdateCampaign(ctx, id, f.in, len(f.in.Recipients) == 0)
		}
		var fe *app.FieldError
		switch {
		case errors.Is(err, app.ErrCampaignNotFound):
			s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
			return
		case errors.Is(err, app.ErrCampaignState):
			errs["form"] = v.T("campaign.err.state")
		case errors.As(err, &fe):
			errs[formField(fe.Field)] = s.fieldMessage(v, fe)
			if fe.Code == "campaign_limit" {
				errs["form_limit"] = "1"
			}
		case err != nil:
			s.Log.Error("create campaign", "err", err)
			errs["form"] = v.T("error.internal")
		default:
			s.Log.Info("campaign saved", "id", id, "user", f.in.CreatedBy, "recipients", len(f.in.Recipients), "send", f.in.Send)
			s.Flash(c, "campaign.created_flash")
			c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(id))
			return
		}
	}
	s.Render(c, http.StatusUnprocessableEntity, "campaign_new", v)
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

func (s *Screens) fieldMessage(v *app.View, fe *app.FieldError) string {
	if key := "campaign.err." + fe.Code; fe.Code != "" && s.Cat.Has(v.Language, key) {
		return v.T(key)
	}
	return v.Reason(fe.Reason, fe.Message)
}

// CampaignPreviewCSV answers the add form's script with the detected
// columns, the first rows and the rows that will be rejected.
func (s *Screens) CampaignPreviewCSV(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, app.MaxUpload)
	v := s.NewView(c, "campaigns", "campaign.new.title", nil)
	fd := campaignFormData{}
	fh, err := c.FormFile("csv")
	if err != nil {
		v.Errors["csv"] = v.T("campaign.err.csv_missing")
	} else {
		pv, p := app.PreviewCSV(func() (io.ReadCloser, error) { return app.OpenCSV(fh) }, recipients.CSVOptions{Region: s.DefaultCountry()})
		if p != nil {
			v.Errors["csv"] = v.T(p.Key, p.Args...)
		}
		fd.Preview, fd.Valid, fd.Problems = pv.Preview, pv.Valid, pv.Problems
	}
	v.Data = fd
	s.RenderTemplate(c, http.StatusOK, "campaign_new", "csvpreview", v)
}

type campaignDetailData struct {
	C          app.CampaignDetail
	Recipients []app.RecipientResult
	Total      int
	Page       int
	Pages      int
	CanStop    bool
	CanRetry   bool
	CanStart   bool
	CanResume  bool
	CanDelete  bool
	// The recipient filter (campaign_recipients.go).
	RecipientFilter
	// Archive and unarchive buttons (campaign_archive.go).
	CanArchive, CanUnarchive bool
}

func canStop(st app.CampaignState) bool {
	return st == app.StateRunning || st == app.StatePending || st == app.StateScheduled || st == app.StateRetrying
}

func canRetry(c app.CampaignSummary) bool {
	return c.Failed > 0 && (c.State == app.StateCompleted || c.State == app.StateStopped)
}

func (s *Screens) CampaignDetail(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	cd, ok := s.campaign(c)
	if !ok {
		return
	}
	s.AddClicks(ctx, &cd)
	page := pageParam(c)
	q := recipientQuery(c.Query)
	q.Offset, q.Limit = (page-1)*app.RecipientPageSize, app.RecipientPageSize
	rs, total, err := s.SearchRecipients(ctx, id, q)
	if err != nil {
		s.Log.Error("campaign recipients", "id", id, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return
	}
	d := s.detailData(cd)
	d.Recipients, d.Total, d.Page = rs, total, page
	d.Pages = max(1, (total+app.RecipientPageSize-1)/app.RecipientPageSize)
	d.RecipientFilter = s.recipientFilter(ctx, cd, q)
	s.Render(c, http.StatusOK, "campaign_detail", s.NewView(c, "campaigns", "campaign.detail.title", d))
}

func (s *Screens) CampaignAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.campaignsUnavailable(c) {
			return
		}
		id := c.Param("id")
		target, err := s.DoCampaignAction(c, action, id)
		var fe *app.FieldError
		switch {
		case errors.As(err, &fe):
			// e.g. duplicating at campaigns.max_campaigns: the reason in the
			// user's language, not a 500.
			v := s.NewView(c, "campaigns", "error.title", "campaign.err.state")
			v.Errors["message"] = s.fieldMessage(v, fe)
			if fe.Code == "campaign_limit" {
				v.Errors["campaign_limit"] = "1"
			}
			s.Render(c, http.StatusUnprocessableEntity, "error", v)
			return
		case errors.Is(err, app.ErrCampaignNotFound):
			s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
			return
		case errors.Is(err, app.ErrCampaignState):
			s.Flash(c, "campaign.err.state")
			target = id
		case err != nil:
			s.Log.Error("campaign action", "action", action, "id", id, "err", err)
			s.RenderError(c, http.StatusInternalServerError, "error.internal")
			return
		default:
			s.Log.Info("campaign action", "action", action, "id", id, "user", app.CurrentUser(c).Name)
			s.Flash(c, "campaign.done."+action)
		}
		c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(target))
	}
}

// CampaignDelete deletes a campaign (after requireConfirm); a sending one
// is stopped first.
func (s *Screens) CampaignDelete(c *gin.Context) {
	id := c.Param("id")
	campaignOp(s, c, "campaign deleted", "campaign.err.state", "/campaigns/"+url.PathEscape(id), "campaign.done.delete", "/campaigns",
		func(d app.CampaignDeleter) error { return d.DeleteCampaign(c.Request.Context(), id) })
}

// CampaignExport streams every recipient's result as CSV.
func (s *Screens) CampaignExport(c *gin.Context) {
	cd, ok := s.campaign(c)
	if !ok {
		return
	}
	s.WriteCampaignCSV(c, cd)
}

// readTemplateForm reads the WhatsApp template, its variable values and its
// header (media URL/ID or a Google Maps location), reporting problems
// next to their fields.
func (s *Screens) readTemplateForm(c *gin.Context, v *app.View, templates []campaign.TemplateInfo) *campaign.WhatsAppContent {
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
	wa.Buttons = readButtonForm(c, v, key, t.Buttons)
	return wa
}

// readHeaderMedia reads a media header: an uploaded file (checked and
// taken to Meta now; its media id then stands in the URL/ID field, so a
// form sent back with other errors does not upload it again) or a typed
// HTTPS URL or media id.
func (s *Screens) readHeaderMedia(c *gin.Context, v *app.View, key, format string) *campaign.Header {
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
		um, err := s.HeaderMediaUpload(c.Request.Context(), format, fh)
		if err != nil {
			s.Log.Info("campaign header media refused", "file", fh.Filename, "err", err)
			v.Errors[fileField] = s.MediaErrorText(v, err, whatsapp.HeaderMediaTypes(format))
		} else {
			s.Log.Info("campaign header media uploaded", "id", um.ID, "type", um.MimeType, "size", um.Size, "user", app.CurrentUser(c).Name)
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
func mediaPreviewName(v *app.View, key string) string {
	if n := v.Form["medianame|"+key]; n != "" {
		return n
	}
	ref := v.Form["media|"+key]
	return ref[strings.LastIndex(ref, "/")+1:]
}

// CampaignEdit shows the add form filled with a draft or scheduled
// campaign; recipients stay unless new ones are given.
func (s *Screens) CampaignEdit(c *gin.Context) {
	ctx := c.Request.Context()
	cd, ok := s.campaign(c)
	if !ok {
		return
	}
	if cd.State != app.StateDraft && cd.State != app.StateScheduled {
		s.Flash(c, "campaign.err.state")
		c.Redirect(http.StatusSeeOther, "/campaigns/"+url.PathEscape(cd.ID))
		return
	}
	fd := s.campaignFormData(ctx)
	fd.EditID = cd.ID
	for _, l := range cd.DNCLists {
		fd.Selected[l] = true
	}
	v := s.NewView(c, "campaigns", "campaign.edit.title", fd)
	prefillReach(v, cd)
	v.Form["name"], v.Form["sender"], v.Form["text"] = cd.Name, cd.Channel+"|"+cd.Sender, cd.Text
	v.Form["mode"], v.Form["target_kind"], v.Form["target_id"] = cd.Mode, cd.Target.Kind, cd.Target.ID
	if cd.RatePerMinute > 0 {
		v.Form["rate"] = strconv.Itoa(cd.RatePerMinute)
	}
	v.Form["send"] = string(app.SendDraft)
	if cd.State == app.StateScheduled {
		v.Form["send"] = string(app.SendSchedule)
		v.Form["schedule_at"] = cd.ScheduledAt.In(s.Location()).Format("2006-01-02T15:04")
	}
	if wa := cd.WhatsApp; wa != nil {
		key := wa.Template + "|" + wa.Language
		fd.Template = key
		v.Data = fd
		for k, val := range wa.Values {
			v.Form["var|"+key+"|"+k] = val
		}
		for _, b := range wa.Buttons {
			v.Form[buttonField(key, b.Index)] = b.Value
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
	s.Render(c, http.StatusOK, "campaign_new", v)
}

// campaign is the campaign the path names; false: it answered (not
// available, not found, failed).
func (s *Screens) campaign(c *gin.Context) (app.CampaignDetail, bool) {
	if s.campaignsUnavailable(c) {
		return app.CampaignDetail{}, false
	}
	id := c.Param("id")
	cd, err := s.D.Campaigns.Campaign(c.Request.Context(), id)
	if errors.Is(err, app.ErrCampaignNotFound) {
		s.RenderError(c, http.StatusNotFound, "campaign.err.not_found")
		return cd, false
	}
	if err != nil {
		s.Log.Error("get campaign", "id", id, "err", err)
		s.RenderError(c, http.StatusInternalServerError, "error.internal")
		return cd, false
	}
	return cd, true
}

// CampaignBulk stops, retries or duplicates the campaigns ticked in the
// list; CampaignBulkDelete (behind the confirmation) deletes them.
func (s *Screens) CampaignBulk(c *gin.Context) {
	if s.campaignsUnavailable(c) {
		return
	}
	action := c.PostForm("action")
	if c.FullPath() == "/campaigns/bulk-delete" {
		action = "delete"
	}
	res, err := s.BulkCampaigns(c, action, c.PostFormArray("id"))
	if err != nil {
		s.Flash(c, "campaign.bulk.none")
		c.Redirect(http.StatusSeeOther, "/campaigns")
		return
	}
	failed := 0
	for _, r := range res {
		if !r.OK {
			failed++
		}
	}
	if failed > 0 {
		s.Flash(c, "campaign.bulk.partly")
	} else {
		s.Flash(c, "campaign.bulk.done."+action)
	}
	c.Redirect(http.StatusSeeOther, "/campaigns")
}

// The campaign form's reach fields: a contact list as the recipients,
// short links and the SMS fallback (issue 21).

// readReachForm reads "shorten links" and, for a WhatsApp campaign, the
// SMS fallback into in; problems go to v.Errors.
func (s *Screens) readReachForm(c *gin.Context, v *app.View, kind string, senders []app.Sender, in *app.CampaignInput) {
	for _, k := range []string{"shorten_links", "fallback_sender", "fallback_text", "fallback_after"} {
		v.Form[k] = c.PostForm(k)
	}
	if c.PostForm("shorten_links") != "" {
		if !s.ShortLinksOn() {
			v.Errors["shorten_links"] = v.T("links.err.disabled")
		}
		in.ShortenLinks = true
	}
	fs := c.PostForm("fallback_sender")
	if kind != "whatsapp" || fs == "" {
		return
	}
	f := &campaign.Fallback{Text: c.PostForm("fallback_text")}
	found := false
	for _, sd := range senders {
		if sd.Kind == "sms" && sd.Channel+"|"+sd.ID == fs {
			f.Channel, f.Sender, found = sd.Channel, sd.ID, true
		}
	}
	if !found {
		v.Errors["fallback_sender"] = v.T("fallback.err.sender")
	}
	if strings.TrimSpace(f.Text) == "" {
		v.Errors["fallback_text"] = v.T("fallback.err.text")
	}
	if raw := strings.TrimSpace(c.PostForm("fallback_after")); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || n > 7*24*60 {
			v.Errors["fallback_after"] = v.T("fallback.err.after", 7*24*60)
		}
		f.After = n
	}
	in.Fallback = f
}

// prefillReach puts a stored campaign's list, short-link and fallback
// settings into the edit form.
func prefillReach(v *app.View, cd app.CampaignDetail) {
	if l := cd.List; l != nil {
		v.Form["list"] = l.Name
		if l.AlwaysRunning {
			v.Form["always_running"] = "1"
		}
		for i, f := range l.Query.Filters {
			if i >= listFormSlots {
				break
			}
			n := strconv.Itoa(i + 1)
			v.Form["filter_col_"+n], v.Form["filter_op_"+n], v.Form["filter_val_"+n] = f.Column, f.Op, f.Value
			if f.Numeric {
				v.Form["filter_num_"+n] = "1"
			}
		}
		for i, k := range l.Query.Sort {
			if i >= listFormSlots {
				break
			}
			n := strconv.Itoa(i + 1)
			v.Form["sort_col_"+n] = k.Column
			if k.Descending {
				v.Form["sort_dir_"+n] = "desc"
			}
			if k.Numeric {
				v.Form["sort_num_"+n] = "1"
			}
		}
	}
	if cd.ShortenLinks {
		v.Form["shorten_links"] = "1"
	}
	if f := cd.Fallback; f != nil {
		v.Form["fallback_sender"], v.Form["fallback_text"] = f.Channel+"|"+f.Sender, f.Text
		if f.After > 0 {
			v.Form["fallback_after"] = strconv.Itoa(f.After)
		}
	}
}

// listFormSlots is how many filter rows the campaign form offers (the
// API takes any number).
const listFormSlots = 4

// readListSourceForm reads the campaign form's contact list fields (nil:
// no list chosen). Problems are set on v.Errors["list"].
func (s *Screens) readListSourceForm(c *gin.Context, v *app.View) *campaign.ListSource {
	name := strings.TrimSpace(c.PostForm("list"))
	v.Form["list"] = name
	v.Form["always_running"] = c.PostForm("always_running")
	for i := 1; i <= listFormSlots; i++ {
		n := strconv.Itoa(i)
		for _, k := range []string{"filter_col_", "filter_op_", "filter_val_", "filter_num_", "sort_col_", "sort_dir_", "sort_num_"} {
			v.Form[k+n] = c.PostForm(k + n)
		}
	}
	if name == "" {
		return nil
	}
	src := &campaign.ListSource{Name: name, AlwaysRunning: c.PostForm("always_running") != ""}
	for i := 1; i <= listFormSlots; i++ {
		n := strconv.Itoa(i)
		if col := strings.TrimSpace(c.PostForm("filter_col_" + n)); col != "" {
			src.Query.Filters = append(src.Query.Filters, recipients.Filter{Column: col, Op: c.PostForm("filter_op_" + n),
				Value: strings.TrimSpace(c.PostForm("filter_val_" + n)), Numeric: c.PostForm("filter_num_"+n) != ""})
		}
		if col := strings.TrimSpace(c.PostForm("sort_col_" + n)); col != "" {
			src.Query.Sort = append(src.Query.Sort, recipients.SortKey{Column: col, Descending: c.PostForm("sort_dir_"+n) == "desc",
				Numeric: c.PostForm("sort_num_"+n) != ""})
		}
	}
	switch found, err := s.CheckListSource(c.Request.Context(), src); {
	case !found:
		v.Errors["list"] = v.T("lists.err.not_found", name)
	case err != nil:
		v.Errors["list"] = v.Reason(message.ReasonOf(err), err.Error())
	}
	return src
}

// ListSlots numbers the campaign form's filter and sort rows.
func (d campaignFormData) ListSlots() []string {
	out := make([]string, listFormSlots)
	for i := range out {
		out[i] = strconv.Itoa(i + 1)
	}
	return out
}

// ListOps are the filter operators the form offers.
func (d campaignFormData) ListOps() []string {
	return []string{recipients.OpEquals, recipients.OpContains, recipients.OpLess, recipients.OpGreater, recipients.OpEmpty, recipients.OpNotEmpty}
}

// detailData is the campaign page's model without the recipients: what
// the live view renders.
func (s *Screens) detailData(cd app.CampaignDetail) campaignDetailData {
	d := campaignDetailData{C: cd, CanStop: canStop(cd.State), CanRetry: canRetry(cd.CampaignSummary),
		CanStart: cd.State == app.StateDraft || cd.State == app.StateScheduled, CanResume: cd.State == app.StateStopped}
	_, d.CanDelete = s.D.Campaigns.(app.CampaignDeleter)
	s.archiveData(&d)
	return d
}
