package app

import (
	"context"
	"time"
)

// MetaSetup is a Facebook Page (Messenger) or an Instagram account as its
// setup page shows it (the daemon adapts drivers/metamsg.Channel).
type MetaSetup interface {
	MetaStatus(ctx context.Context) MetaStatus
	// TestMeta asks Meta which Page or account the token is for (GET
	// /me): its name and id, or why the token does not work.
	TestMeta(ctx context.Context) (string, error)
}

// MetaStatus is the channel's state. The token and the app secret are
// never passed in.
type MetaStatus struct {
	Platform   string // "messenger" or "instagram"
	Channel    string
	AccountID  string
	Name       string
	Username   string // for the m.me / ig.me link
	WebhookURL string // the callback URL to enter at Meta; empty without http.public_url
	LastOK     time.Time
	LastError  string
	Received   int64
	Sent       int64
	HumanAgent bool
	Emulated   bool
	// Subscribers counts the people who wrote; List is the latest (at
	// most MaxMetaList), newest first: their ids are what a campaign to
	// them is addressed to.
	Subscribers int
	Blocked     int
	List        []MetaSubscriber
}

// MetaSubscriber is one person who wrote.
type MetaSubscriber struct {
	Address string // "fb…" or "ig…"
	Payload string // the link's ref they came by
	First   time.Time
	LastIn  time.Time // their last message: the 24-hour window runs from here
	Blocked bool
}

// MaxMetaList bounds the subscriber table on the page.
const MaxMetaList = 200
