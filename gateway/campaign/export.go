package campaign

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/message"
)

const time5min = 5 * time.Minute

var zeroTime time.Time

// ExportCSV writes campaign id's results: number, variables, status,
// reason, attempt and times (in the configured time zone).
func (e *Engine) ExportCSV(ctx context.Context, id string, w io.Writer) error {
	return e.ExportCSVReasons(ctx, id, w, nil)
}

// ExportCSVReasons is ExportCSV with the reason column written by reason
// (given the recipient's reason code and English text), e.g. translated
// for the portal user; nil writes the English text.
func (e *Engine) ExportCSVReasons(ctx context.Context, id string, w io.Writer, reason func(code message.Reason, text string) string) error {
	c, err := e.Get(ctx, id)
	if err != nil {
		return err
	}
	extra, err := e.exportExtra(ctx, c) // reach.go: clicks, channel
	if err != nil {
		return err
	}
	rs, err := e.allRecipients(id)
	if err != nil {
		return err
	}
	varSet := map[string]bool{}
	for _, r := range rs {
		for k := range r.Vars {
			varSet[k] = true
		}
	}
	vars := make([]string, 0, len(varSet))
	for k := range varSet {
		vars = append(vars, k)
	}
	sort.Strings(vars)
	cw := csv.NewWriter(w)
	head := append([]string{"number"}, vars...)
	head = append(head, "status", "reason", "code", "attempt", "sending_at", "sent_at", "done_at")
	head = append(head, extra.head...)
	if err := cw.Write(CSVCells(head)); err != nil {
		return err
	}
	ts := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.In(e.cfg.Location).Format(time.RFC3339)
	}
	for _, r := range rs {
		row := []string{r.Number}
		for _, k := range vars {
			row = append(row, r.Vars[k])
		}
		why := r.Reason
		if reason != nil {
			why = reason(r.ReasonCode, r.Reason)
		}
		row = append(row, string(r.Status), why, r.Code, strconv.Itoa(r.Attempt), ts(r.SendingAt), ts(r.SentAt), ts(r.DoneAt))
		row = append(row, extra.cells(r)...)
		if err := cw.Write(CSVCells(row)); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

// CSVCell keeps spreadsheet programs from running a cell as a formula
// (OWASP "CSV Injection"): a cell starting with = + - @ TAB or CR gets a
// leading apostrophe, which spreadsheets show as text.
//
// One exception keeps phone numbers readable: a cell that is exactly an
// E.164 number (+, then 2–15 digits, the first not 0) stays as it is. It
// holds no letters, parentheses or operators after the sign, so it cannot
// call a function or DDE; at worst a spreadsheet shows it as a number, and
// programs importing the export (CRMs, scripts) get the number unchanged.
// "+43 664 …" with spaces, "-1+2" or "+1)" are not E.164 and get the
// apostrophe.
func CSVCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || isE164(s) {
		return s
	}
	return "'" + s
}

// CSVCells applies CSVCell to every cell of row, in place.
func CSVCells(row []string) []string {
	for i, c := range row {
		row[i] = CSVCell(c)
	}
	return row
}

func isE164(s string) bool {
	if len(s) < 3 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
