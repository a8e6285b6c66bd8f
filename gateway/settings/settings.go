// Package settings keeps configuration an administrator changed in the
// portal. The YAML file stays the installer's baseline; a section saved
// here replaces the file's section at the next start (the portal restarts
// the daemon in place to apply it). Environment overrides still win.
package settings

import (
	"errors"
	"time"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/store"
)

const keySIP = "settings/sip"

// SIPRecord is the PBX connection and routing saved in the portal.
type SIPRecord struct {
	// SIP holds the secret in clear (JSON does not mask config.Secret): the
	// store is the daemon's private data, like its environment file.
	SIP config.SIP `json:"sip"`
	By  string     `json:"by"`
	At  time.Time  `json:"at"`
}

// LoadSIP returns the saved PBX settings, or nil when the portal never
// changed them.
func LoadSIP(st *store.Store) (*SIPRecord, error) {
	var r SIPRecord
	err := st.View(func(txn *store.Txn) error { return store.GetJSON(txn, keySIP, &r) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// SaveSIP stores r (the caller validated it with config.WithSIP).
func SaveSIP(st *store.Store, r SIPRecord) error {
	return st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, keySIP, r) })
}

// ResetSIP drops the portal's PBX settings: the file's apply again.
func ResetSIP(st *store.Store) error {
	return st.Update(func(txn *store.Txn) error {
		err := txn.Delete([]byte(keySIP))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
}
