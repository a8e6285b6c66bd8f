package app

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
)

const settingsKey = "portal/settings"

// Settings are the choices made at first-run setup (System lets an admin
// change them). The daemon may read them with LoadSettings to override its
// configured region and time zone.
type Settings struct {
	SetupDone      bool      `json:"setup_done"`
	Language       string    `json:"language,omitempty"`
	DefaultCountry string    `json:"default_country,omitempty"`
	TimeZone       string    `json:"time_zone,omitempty"`
	Updated        time.Time `json:"updated,omitzero"`
}

// LoadSettings reads the portal settings (zero Settings before setup).
func LoadSettings(s *store.Store) (Settings, error) {
	var st Settings
	err := s.View(func(txn *store.Txn) error { return store.GetJSON(txn, settingsKey, &st) })
	if errors.Is(err, store.ErrNotFound) {
		return Settings{}, nil
	}
	return st, err
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
