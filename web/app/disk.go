package app

import "fmt"

// DiskWatch reports whether the data directory's disk is almost full, for
// the portal's banner (cmd/pbxgate feeds it from gateway/diskguard).
type DiskWatch interface {
	Low() (free int64, dir string, low bool)
}

// diskBanner is the translated low-disk banner, or "".
func (s *Server) diskBanner(v *View) string {
	if s.D.Disk == nil {
		return ""
	}
	free, dir, low := s.D.Disk.Low()
	if !low {
		return ""
	}
	return v.T("disk.low_banner", fmt.Sprintf("%.1f", float64(free)/(1<<20)), dir)
}
