package screens

import "github.com/pbxgate/pbxgate/gateway/message"

// viberVKKind is the recipients.Sources.IDKind of a campaign on a
// channel of kind: Viber and VK subscribers are pasted as ids.
func viberVKKind(kind string) message.Kind {
	if k := message.Kind(kind); k == message.Viber || k == message.VK {
		return k
	}
	return ""
}
