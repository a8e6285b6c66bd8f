package app

import (
	"context"
	"time"
)

// TelegramSetup is the Telegram bot as its setup page shows it (the
// daemon adapts drivers/telegram.Channel).
type TelegramSetup interface {
	TelegramStatus(ctx context.Context) TelegramStatus
	// TestTelegram asks Telegram who the bot is (getMe): the bot's
	// username, or why the token does not work.
	TestTelegram(ctx context.Context) (string, error)
}

// TelegramStatus is the bot's state. The token is never passed in.
type TelegramStatus struct {
	Channel     string
	Mode        string // "polling" or "webhook"
	Bot         string // username, known once Telegram answered
	WebhookURL  string
	LastOK      time.Time
	LastError   string
	Received    int64
	Sent        int64
	Subscribers int
	Blocked     int
	// List is the subscribers, newest first (at most MaxTelegramList):
	// their chat ids are what a campaign to them is addressed to.
	List []TelegramSubscriber
}

// TelegramSubscriber is one chat that wrote to the bot.
type TelegramSubscriber struct {
	ChatID   int64
	Name     string
	Username string
	Payload  string // the start parameter of the link it came by
	First    time.Time
	Blocked  bool
}

// MaxTelegramList bounds the subscriber table on the page.
const MaxTelegramList = 200
