package store

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const schemaKey = "meta/schema_version"

// Migration moves the data from schema Version-1 to Version. Migrations run
// once, in order, each in its own transaction together with the version bump.
type Migration struct {
	Version int
	Name    string
	Up      func(txn *Txn) error
}

// SchemaVersion returns the stored schema version (0 for a new store).
func (s *Store) SchemaVersion() (int, error) {
	v := 0
	err := s.View(func(txn *Txn) error {
		item, err := txn.Get([]byte(schemaKey))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if len(b) != 8 {
				return fmt.Errorf("schema version key is damaged (%d bytes)", len(b))
			}
			v = int(binary.BigEndian.Uint64(b))
			return nil
		})
	})
	return v, err
}

// Migrate brings the store to the newest version in ms (sorted by Version,
// starting at 1). before is called once when at least one migration will run
// (the daemon backs the store up there); it may be nil.
func (s *Store) Migrate(ms []Migration, before func(from, to int) error) error {
	cur, err := s.SchemaVersion()
	if err != nil {
		return err
	}
	target := 0
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("migration %q has version %d, want %d", m.Name, m.Version, i+1)
		}
		target = m.Version
	}
	if cur > target {
		return fmt.Errorf("%w: schema %d, this pbxgate knows %d; install the newer version again or restore a backup", ErrNewerSchema, cur, target)
	}
	if cur == target {
		return nil
	}
	if before != nil && cur > 0 {
		if err := before(cur, target); err != nil {
			return fmt.Errorf("before migration: %w", err)
		}
	}
	for _, m := range ms[cur:] {
		err := s.Update(func(txn *Txn) error {
			if m.Up != nil {
				if err := m.Up(txn); err != nil {
					return err
				}
			}
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(m.Version))
			return txn.Set([]byte(schemaKey), b[:])
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.Version, m.Name, err)
		}
		s.log.Info("store migrated", "version", m.Version, "migration", m.Name)
	}
	return s.db.Sync()
}
