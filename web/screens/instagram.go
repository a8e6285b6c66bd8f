package screens

// The Instagram page is the Messenger page's (messenger.go) with the
// instagram catalog keys, the ig.me link and app.Deps.Instagram: both
// platforms are Meta's Messenger Platform.
