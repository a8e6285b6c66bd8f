package pbx

import "github.com/pbxgate/pbxgate/gateway/config"

// extBodyLimits maps an extension to its split size when it differs from
// sip.max_body_bytes: the extension's own sip.extensions[].max_body_bytes
// if set, else the smallest sip.sessions.queues[].max_body_bytes of the
// queues it is a member of (a phone shows what it shows, whatever queue
// the chat came through).
func extBodyLimits(c config.SIP) map[string]int {
	limits := map[string]int{}
	for _, e := range c.Extensions {
		if e.MaxBodyBytes > 0 {
			limits[e.Ext] = e.MaxBodyBytes
		}
	}
	own := func(ext string) bool {
		for _, e := range c.Extensions {
			if e.Ext == ext && e.MaxBodyBytes > 0 {
				return true
			}
		}
		return false
	}
	for _, q := range c.Sessions.Queues {
		if q.MaxBodyBytes <= 0 {
			continue
		}
		for _, m := range q.Members {
			if own(m) {
				continue
			}
			if l, ok := limits[m]; !ok || q.MaxBodyBytes < l {
				limits[m] = q.MaxBodyBytes
			}
		}
	}
	return limits
}
