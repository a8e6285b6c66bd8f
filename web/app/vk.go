package app

import (
	"context"
	"time"
)

// VKSetup is the VK community as its setup page shows it (the daemon
// adapts drivers/vk.Channel).
type VKSetup interface {
	VKStatus(ctx context.Context) VKStatus
	// TestVK asks VK for the community (groups.getById): its name, or why
	// the token does not work.
	TestVK(ctx context.Context) (string, error)
}

// VKStatus is the community's state. The token is never passed in.
type VKStatus struct {
	Channel     string
	Mode        string // "longpoll" or "callback"
	GroupID     int64
	Group       string // the community's name, known once VK answered
	ScreenName  string // vk.me/<ScreenName>
	CallbackURL string // with Mode "callback"
	LastOK      time.Time
	LastError   string
	Received    int64
	Sent        int64
	Subscribers int // allowed messages
	Denied      int
	// List is the users, newest first (at most MaxVKList): their ids are
	// what a campaign to them is addressed to.
	List []VKSubscriber
}

// VKSubscriber is one user who wrote to the community or allowed
// messages.
type VKSubscriber struct {
	UserID  int64
	Key     string // the key of the link they allowed messages by
	First   time.Time
	Allowed bool
	Denied  bool
}

// MaxVKList bounds the subscriber table on the page.
const MaxVKList = 200
