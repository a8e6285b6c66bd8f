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
)

const time5min = 5 * time.Minute

var zeroTime time.Time

// ExportCSV writes campaign id's results: number, variables, status,
// reason, attempt and times (in the configured time zone).
func (e *Engine) ExportCSV(ctx context.Context, id string, w io.Writer) error {
	if _, err := e.Get(ctx, id); err != nil {
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
	if err := cw.Write(head); err != nil {
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
			row = append(row, cellSafe(r.Vars[k]))
		}
		row = append(row, string(r.Status), cellSafe(r.Reason), r.Code, strconv.Itoa(r.Attempt), ts(r.SendingAt), ts(r.SentAt), ts(r.DoneAt))
		if err := cw.Write(row); err != nil {
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

// cellSafe keeps spreadsheet programs from running imported text as a
// formula.
func cellSafe(s string) string {
	if strings.HasPrefix(s, "=") || strings.HasPrefix(s, "@") {
		return "'" + s
	}
	return s
}
