//go:build !linux

package store

import "errors"

var errNoSmaps = errors.New("resident pages of mapped files are only measured on Linux")

func residentShared() (int64, error) { return 0, errNoSmaps }

// Resident is only measured on Linux.
func (s *Store) Resident() (Resident, error) { return Resident{}, errNoSmaps }

// Trim is only done on Linux.
func (s *Store) Trim(budget int64) (Resident, error) { return Resident{}, errNoSmaps }

func pageOutExecutable() (int64, error) { return 0, errNoSmaps }
