package app

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
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
