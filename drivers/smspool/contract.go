package smspool

import "github.com/pbxgate/pbxgate/gateway/campaign"

// The driver's contract with the gateway: checked at compile time (those
// with packages a driver should not import are in cmd/pbxgate).
var (
	_ campaign.Channel      = (*SMSChannel)(nil)
	_ campaign.SenderLister = (*SMSChannel)(nil)
	_ campaign.ResendSafety = (*SMSChannel)(nil)
	_ campaign.MMSCapable   = (*SMSChannel)(nil)
	_ campaign.TxnSender    = (*SMSChannel)(nil)
)
