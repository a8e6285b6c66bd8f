package config

import "log/slog"

// Secret is a configuration value that must never be printed: tokens,
// passwords, PINs. Its String, YAML and slog forms are masked.
type Secret string

const masked = "********"

// String masks the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return masked
}

// Reveal returns the secret's value for the one place that needs it.
func (s Secret) Reveal() string { return string(s) }

// MarshalYAML masks the secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// LogValue masks the secret in structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
