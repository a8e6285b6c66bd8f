package vk

import "github.com/pbxgate/pbxgate/gateway/campaign"

// The driver's contract with the gateway: checked at compile time. The
// community is a campaign channel of its own (text to user ids), its
// sends survive restarts without resending (random_id), and its
// recipients are VK user ids, not phone numbers.
var (
	_ campaign.Channel           = (*Channel)(nil)
	_ campaign.ResendSafety      = (*Channel)(nil)
	_ campaign.AddressNormalizer = (*Channel)(nil)
)
