package app

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/pbxgate/pbxgate/gateway/campaign"
	"github.com/pbxgate/pbxgate/gateway/recipients"
)

const (
	CampaignPageSize  = 50
	RecipientPageSize = 100
	MaxNameLen        = 100
	// MaxUpload bounds a campaign form with a CSV file; recipients.MaxFileSize
	// bounds the file itself.
	MaxUpload = recipients.MaxFileSize + 1<<20
	// MaxCampaignForm also fits a WhatsApp header document (Meta: 100 MB).
	MaxCampaignForm = MaxUpload + 100<<20
)

func ParseState(s string) (CampaignState, bool) {
	for _, st := range CampaignStates() {
		if string(st) == s {
			return st, true
		}
	}
	return "", s == ""
}

// TemplateKey identifies a template translation in the form.
func TemplateKey(t campaign.TemplateInfo) string { return t.Name + "|" + t.Language }

var errNotCSV = errors.New("not a CSV file")

// OpenCSV opens an uploaded file after checking its size and that it is
// text (browsers send text/csv, application/vnd.ms-excel or
// application/octet-stream for .csv, so the content decides).
func OpenCSV(fh *multipart.FileHeader) (multipart.File, error) {
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

// CampaignAction runs stop, retry or duplicate and returns to the campaign.
// DoCampaignAction runs one of the campaign actions the detail page and the
// API offer; it returns the campaign to show next (the copy for duplicate).
func (s *Server) DoCampaignAction(c *gin.Context, action, id string) (string, error) {
	ctx := c.Request.Context()
	switch action {
	case "stop":
		return id, s.D.Campaigns.StopCampaign(ctx, id)
	case "start":
		return id, s.D.Campaigns.StartCampaign(ctx, id)
	case "resume":
		return id, s.D.Campaigns.ResumeCampaign(ctx, id)
	case "retry":
		return id, s.D.Campaigns.RetryFailed(ctx, id)
	case "duplicate":
		return s.D.Campaigns.DuplicateCampaign(ctx, id, CurrentUser(c).Name)
	}
	return id, fmt.Errorf("unknown campaign action %q", action)
}

// WriteCampaignCSV streams every recipient's result of campaign cd as a
// CSV download (the portal's and the API's export).
func (s *Server) WriteCampaignCSV(c *gin.Context, cd CampaignDetail) {
	ctx := c.Request.Context()
	id := cd.ID
	c.Header("Content-Type", "text/csv; charset=utf-8")
	c.Header("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "campaign-"+sanitizeFilename(cd.ID)+".csv"))
	var out io.Writer = c.Writer
	var loc *CSVLocalizer
	if !IsAPI(c) {
		// The portal's download speaks the user's language.
		loc = &CSVLocalizer{V: s.NewView(c, "", "", nil)}
	}
	if ex, ok := s.D.Campaigns.(CampaignExporter); ok {
		export := func(w io.Writer) error { return ex.ExportCampaignCSV(ctx, id, w) }
		if rx, ok := ex.(ReasonExporter); ok && loc != nil {
			// The reason column in the user's language.
			export = func(w io.Writer) error { return rx.ExportCampaignCSVReasons(ctx, id, w, loc.V.Reason) }
		}
		var err error
		if loc != nil {
			err = loc.LocalizedExport(out, export)
		} else {
			err = export(out)
		}
		if err != nil {
			s.Log.Error("export campaign", "id", id, "err", err)
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
		rs, total, err := s.D.Campaigns.CampaignRecipients(ctx, id, off, 500)
		if err != nil {
			s.Log.Error("export campaign", "id", id, "err", err)
			panic(http.ErrAbortHandler) // a truncated file must not look complete
		}
		for _, r := range rs {
			upd := ""
			if !r.Updated.IsZero() {
				upd = r.Updated.UTC().Format(time.RFC3339)
			}
			st := r.State
			if loc != nil {
				st = loc.V.RecipientState(st)
			}
			why := r.Error
			if loc != nil {
				why = loc.V.Reason(r.ErrorCode, r.Error)
			}
			_ = w.Write(campaign.CSVCells([]string{r.Number, st, strconv.Itoa(r.Attempts), upd, why}))
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

// MaxBulk is the most campaigns one bulk operation takes.
const MaxBulk = 100

// BulkActions are what a bulk operation may do to each campaign.
var BulkActions = []string{"stop", "retry", "duplicate", "delete"}

// BulkResult is one campaign's outcome of a bulk operation.
type BulkResult struct {
	ID    string `json:"id"`
	OK    bool   `json:"ok"`
	NewID string `json:"new_id,omitempty"` // duplicate: the copy
	// Code says why not: "not_found", "state", "campaign_limit", "internal".
	Code  string `json:"code,omitempty"`
	Error string `json:"error,omitempty"`
}

// BulkCampaigns applies action to every campaign in ids (each once, in
// order; one's failure does not stop the others). A *FieldError refuses
// the request as a whole: an unknown action, no ids, more than MaxBulk.
func (s *Server) BulkCampaigns(c *gin.Context, action string, ids []string) ([]BulkResult, error) {
	if !slices.Contains(BulkActions, action) {
		return nil, &FieldError{Field: "action", Code: "invalid", Message: "action must be stop, retry, duplicate or delete"}
	}
	seen := map[string]bool{}
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool {
		dup := seen[id] || strings.TrimSpace(id) == ""
		seen[id] = true
		return dup
	})
	switch {
	case len(ids) == 0:
		return nil, &FieldError{Field: "ids", Code: "required", Message: "ids must name at least one campaign"}
	case len(ids) > MaxBulk:
		return nil, &FieldError{Field: "ids", Code: "too_many", Message: fmt.Sprintf("at most %d campaigns at once", MaxBulk)}
	}
	del, canDelete := s.D.Campaigns.(CampaignDeleter)
	if action == "delete" && !canDelete {
		return nil, &FieldError{Field: "action", Code: "unavailable", Message: "this campaign service cannot delete campaigns"}
	}
	out := make([]BulkResult, 0, len(ids))
	for _, id := range ids {
		r := BulkResult{ID: id}
		var err error
		if action == "delete" {
			err = del.DeleteCampaign(c.Request.Context(), id)
		} else {
			var target string
			target, err = s.DoCampaignAction(c, action, id)
			if action == "duplicate" && err == nil {
				r.NewID = target
			}
		}
		var fe *FieldError
		switch {
		case err == nil:
			r.OK = true
			s.Log.Info("campaign bulk "+action, "id", id, "user", CurrentUser(c).Name)
		case errors.Is(err, ErrCampaignNotFound):
			r.Code, r.Error = "not_found", "no campaign with this id"
		case errors.Is(err, ErrCampaignState):
			r.Code, r.Error = "state", err.Error()
		case errors.As(err, &fe):
			r.Code, r.Error = CmpOr(fe.Code, "invalid"), fe.Message
		default:
			s.Log.Error("campaign bulk "+action, "id", id, "err", err)
			r.Code, r.Error = "internal", "failed; see the pbxgate log"
		}
		out = append(out, r)
	}
	return out, nil
}
