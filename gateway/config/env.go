package config

import (
	"strings"
)

// Environment variables that override secrets from the file, so that the
// file can be world-readable and secrets come from a systemd credential or
// EnvironmentFile.
const (
	EnvWhatsAppToken     = "PBXGATE_WHATSAPP_TOKEN"
	EnvWhatsAppAppSecret = "PBXGATE_WHATSAPP_APP_SECRET"
	EnvWhatsAppVerify    = "PBXGATE_WHATSAPP_VERIFY_TOKEN"
	EnvSIPPassword       = "PBXGATE_SIP_PASSWORD"
	EnvSMTPPassword      = "PBXGATE_SMTP_PASSWORD"
	// EnvModemPINPrefix + the modem's name in upper case with - replaced by
	// _ (e.g. PBXGATE_MODEM_PIN_EC25_1) sets that modem's SIM PIN.
	EnvModemPINPrefix = "PBXGATE_MODEM_PIN_"
)

func applyEnv(c *Config, env []string) {
	vars := map[string]string{}
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "PBXGATE_") {
			vars[k] = v
		}
	}
	set := func(dst *Secret, name string) {
		if v, ok := vars[name]; ok && v != "" {
			*dst = Secret(v)
		}
	}
	set(&c.WhatsApp.Token, EnvWhatsAppToken)
	set(&c.WhatsApp.AppSecret, EnvWhatsAppAppSecret)
	set(&c.WhatsApp.VerifyToken, EnvWhatsAppVerify)
	set(&c.Telegram.Token, EnvTelegramToken)
	set(&c.Viber.Token, EnvViberToken)
	set(&c.VK.Token, EnvVKToken)
	set(&c.VK.Secret, EnvVKSecret)

	set(&c.Messenger.Token, EnvMessengerToken)
	set(&c.Messenger.AppSecret, EnvMessengerAppSecret)
	set(&c.Messenger.VerifyToken, EnvMessengerVerify)
	set(&c.Instagram.Token, EnvInstagramToken)
	set(&c.Instagram.AppSecret, EnvInstagramAppSecret)
	set(&c.Instagram.VerifyToken, EnvInstagramVerify)
	set(&c.SIP.Password, EnvSIPPassword)
	set(&c.Automation.SMTP.Password, EnvSMTPPassword)
	set(&c.Metrics.Token, EnvMetricsToken)
	set(&c.Cluster.Password, EnvClusterPassword)
	for i := range c.Modems.Devices {
		set(&c.Modems.Devices[i].PIN, ModemPINEnv(c.Modems.Devices[i].Name))
	}
}

// ModemPINEnv is the environment variable holding the PIN of modem name.
func ModemPINEnv(name string) string {
	return EnvModemPINPrefix + strings.NewReplacer("-", "_", ".", "_").Replace(strings.ToUpper(name))
}
