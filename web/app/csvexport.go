package app

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
)

// CSVLocalizer rewrites a campaign export for the portal user's language:
// the header cells the catalog knows ("csv.head.<name>") and the values of
// the status column ("rstate.<status>"). Other cells (numbers, the CSV's
// own variable columns, timestamps) pass unchanged. The API's export stays
// as the engine writes it, for scripts.
type CSVLocalizer struct {
	V *View
}

func (l CSVLocalizer) head(name string) string {
	if key := "csv.head." + name; l.V.Cat.Has(l.V.Language, key) {
		return l.V.T(key)
	}
	return name
}

// copy reads CSV from r and writes it localised to w.
func (l CSVLocalizer) copy(w io.Writer, r io.Reader) error {
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
			rec[status] = l.V.RecipientState(rec[status])
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// LocalizedExport runs export (which writes CSV) and streams its output
// localised to w.
func (l CSVLocalizer) LocalizedExport(w io.Writer, export func(io.Writer) error) error {
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
