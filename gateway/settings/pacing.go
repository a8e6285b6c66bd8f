package settings

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
)

const keyPacing = "settings/pacing/"

// PacingRecord is one modem's (one SIM's) pacing saved in the portal. It
// replaces the file's modems.devices[].pacing of that modem; the daemon
// applies it at once and again at every start.
type PacingRecord struct {
	Modem  string        `json:"modem"`
	Pacing config.Pacing `json:"pacing"`
	By     string        `json:"by"`
	At     time.Time     `json:"at"`
}

func pacingKey(modem string) string { return keyPacing + url.PathEscape(modem) }

// LoadPacing returns the pacing saved in the portal, by modem name; empty
// when the portal never changed any.
func LoadPacing(st *store.Store) (map[string]PacingRecord, error) {
	out := map[string]PacingRecord{}
	err := st.View(func(txn *store.Txn) error {
		return store.Each(txn, keyPacing, func(k string, v []byte) error {
			var r PacingRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
			out[r.Modem] = r
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SavePacing stores r (the caller validated it with config.ValidatePacing).
func SavePacing(st *store.Store, r PacingRecord) error {
	if r.Modem == "" {
		return errors.New("settings: pacing without a modem name")
	}
	return st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, pacingKey(r.Modem), r) })
}

// ResetPacing drops the portal's pacing of modem: the file's applies again.
func ResetPacing(st *store.Store, modem string) error {
	return st.Update(func(txn *store.Txn) error {
		err := txn.Delete([]byte(pacingKey(modem)))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
}
