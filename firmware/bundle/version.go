package bundle

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a parsed semantic version (v1.2.3, v1.2.3-rc.1). Build
// metadata (+…) is ignored, as semver says.
type Version struct {
	Major, Minor, Patch int
	Pre                 []string // pre-release identifiers; empty for a release
	raw                 string
}

func (v Version) String() string { return v.raw }

// ParseVersion accepts "v1.2.3" or "1.2.3" with an optional pre-release.
// `git describe` output such as v1.2.3-4-gabcdef parses as a pre-release of
// v1.2.3, which sorts before it; release builds are tagged, so that is only
// seen on development bundles.
func ParseVersion(s string) (Version, error) {
	raw := s
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("%w: %q is not MAJOR.MINOR.PATCH", ErrBadVersion, raw)
	}
	var n [3]int
	for i, p := range parts {
		x, err := strconv.Atoi(p)
		if err != nil || x < 0 || (len(p) > 1 && p[0] == '0') {
			return Version{}, fmt.Errorf("%w: %q has a bad number %q", ErrBadVersion, raw, p)
		}
		n[i] = x
	}
	v := Version{Major: n[0], Minor: n[1], Patch: n[2], raw: raw}
	if hasPre {
		if pre == "" {
			return Version{}, fmt.Errorf("%w: %q has an empty pre-release", ErrBadVersion, raw)
		}
		v.Pre = strings.Split(pre, ".")
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v sorts before, with or after w, by semver
// precedence rules.
func (v Version) Compare(w Version) int {
	for _, d := range [][2]int{{v.Major, w.Major}, {v.Minor, w.Minor}, {v.Patch, w.Patch}} {
		if d[0] != d[1] {
			return cmpInt(d[0], d[1])
		}
	}
	switch {
	case len(v.Pre) == 0 && len(w.Pre) == 0:
		return 0
	case len(v.Pre) == 0:
		return 1
	case len(w.Pre) == 0:
		return -1
	}
	for i := 0; i < len(v.Pre) && i < len(w.Pre); i++ {
		a, b := v.Pre[i], w.Pre[i]
		if a == b {
			continue
		}
		an, aerr := strconv.Atoi(a)
		bn, berr := strconv.Atoi(b)
		switch {
		case aerr == nil && berr == nil:
			return cmpInt(an, bn)
		case aerr == nil:
			return -1 // numeric identifiers sort before alphanumeric ones
		case berr == nil:
			return 1
		}
		return strings.Compare(a, b)
	}
	return cmpInt(len(v.Pre), len(w.Pre))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
