package config

// Environment variables that override the Instagram account's secrets.
const (
	EnvInstagramToken     = "PBXGATE_INSTAGRAM_TOKEN"
	EnvInstagramAppSecret = "PBXGATE_INSTAGRAM_APP_SECRET"
	EnvInstagramVerify    = "PBXGATE_INSTAGRAM_VERIFY_TOKEN"
)

// The instagram section is a MetaChat (messenger.go): the Send API and
// the webhooks are Messenger's, with object "instagram".
func defaultInstagram() MetaChat {
	m := defaultMessenger()
	m.Name = "instagram"
	return m
}
