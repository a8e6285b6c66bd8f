package web

import (
	"testing"

	"github.com/pbxgate/pbxgate/web/app"
)

// TestClickToChatPrefillsOwnNumber: a fresh click-to-chat form offers the
// gateway's own WhatsApp number; a submitted one keeps what was typed.
func TestClickToChatPrefillsOwnNumber(t *testing.T) {
	t.Parallel()
	env := newEnv(t, func(d *app.Deps) {
		d.Status = staticStatus{app.Status{WhatsApp: []app.WhatsAppStatus{{PhoneNumber: "+49 30 1234567", Health: app.HealthOK, State: "connected"}}}}
	})
	c := env.client()
	c.setup("admin password")
	mustContain(t, c.get("/clicktochat").body, `id="number" name="number" value="&#43;49 30 1234567"`)
	r := c.get("/clicktochat?kind=whatsapp&number=0171+1234567")
	mustContain(t, r.body, `id="number" name="number" value="0171 1234567"`)

	bare := newEnv(t)
	b := bare.client()
	b.setup("admin password")
	mustContain(t, b.get("/clicktochat").body, `id="number" name="number" value=""`)
}
