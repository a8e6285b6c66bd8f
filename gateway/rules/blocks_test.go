package rules

import "github.com/pbxgate/pbxgate/gateway/consent"

func blockEntry(prefix, dir string) consent.Entry {
	return consent.Entry{Prefix: prefix, Direction: consent.Direction(dir)}
}
