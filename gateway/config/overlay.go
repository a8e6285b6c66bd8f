package config

// WithSIP returns c with s (the PBX settings an administrator saved in the
// portal) in place of the file's sip section, the environment overrides
// applied again (they win over both), and the whole configuration
// validated: Problems name keys such as sip.registrar.
func (c Config) WithSIP(s SIP, env []string) (Config, error) {
	c.SIP = s
	applyEnv(&c, env)
	if ps := c.validate(); len(ps) > 0 {
		return c, ps
	}
	return c, nil
}
