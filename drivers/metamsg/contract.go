package metamsg

import "github.com/pbxgate/pbxgate/gateway/campaign"

// The driver's contract with the gateway: checked at compile time. The
// page is a campaign channel of its own (text to page-scoped ids), its
// sends survive restarts without resending, and its recipients are ids,
// not phone numbers.
var (
	_ campaign.Channel           = (*Channel)(nil)
	_ campaign.ResendSafety      = (*Channel)(nil)
	_ campaign.AddressNormalizer = (*Channel)(nil)
)
