package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// csvLocalizer rewrites a campaign export for the portal user's language:
// the header cells the catalog knows ("csv.head.<name>") and the values of
// the status column ("rstate.<status>"). Other cells (numbers, the CSV's
// own variable columns, timestamps) pass unchanged. The API's export stays
// as the engine writes it, for scripts.
type csvLocalizer struct {
	v *view
}

func (l csvLocalizer) head(name string) string {
	if key := "csv.head." + name; l.v.cat.Has(l.v.lang, key) {
		return l.v.T(key)
	}
	return name
}

// copy reads CSV from r and writes it localised to w.
func (l csvLocalizer) copy(w io.Writer, r io.Reader) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cw := csv.NewWriter(w)
	status := -1
	for line := 0; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("localise export: %w", err)
		}
		if line == 0 {
			for i, h := range rec {
				if h == "status" || h == "state" {
					status = i
				}
				rec[i] = l.head(h)
			}
		} else if status >= 0 && status < len(rec) {
			rec[status] = l.v.RecipientState(rec[status])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// localizedExport runs export (which writes CSV) and streams its output
// localised to w.
func (l csvLocalizer) localizedExport(w io.Writer, export func(io.Writer) error) error {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := export(pw)
		pw.CloseWithError(err)
		done <- err
	}()
	err := l.copy(w, pr)
	pr.CloseWithError(errors.Join(err, io.ErrClosedPipe)) // unblocks export if copy stopped early
	return errors.Join(<-done, err)
}
