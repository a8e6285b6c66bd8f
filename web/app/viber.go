package app

import (
	"context"
	"time"
)

// ViberSetup is the Viber bot as its setup page shows it (the daemon
// adapts drivers/viber.Channel).
type ViberSetup interface {
	ViberStatus(ctx context.Context) ViberStatus
	// TestViber asks Viber who the bot is (get_account_info): the bot's
	// name, or why the token does not work.
	TestViber(ctx context.Context) (string, error)
}

// ViberStatus is the bot's state. The token is never passed in.
type ViberStatus struct {
	Channel     string
	Mode        string // "webhook" or "send-only"
	Bot         string // the bot's name, known once Viber answered
	URI         string // the bot's URI: viber://pa?chatURI=<URI>
	WebhookURL  string
	LastOK      time.Time
	LastError   string
	Received    int64
	Sent        int64
	Subscribers int // subscribed now
	Gone        int // unsubscribed
	// List is the users, newest first (at most MaxViberList): their ids
	// are what a campaign to them is addressed to.
	List []ViberSubscriber
}

// ViberSubscriber is one user known to the bot.
type ViberSubscriber struct {
	UserID       string
	Name         string
	Country      string
	Context      string // the context parameter of the link they came by
	First        time.Time
	Subscribed   bool
	Unsubscribed bool
}

// MaxViberList bounds the subscriber table on the page.
const MaxViberList = 200
