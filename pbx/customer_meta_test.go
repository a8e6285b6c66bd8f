package pbx

import "testing"

// Messenger and Instagram people as extensions address them: "fb"/"ig"
// and the page-scoped id (drivers/metamsg.Channel.Address).
func TestCustomerMetaIDs(t *testing.T) {
	g := &Gateway{}
	for in, want := range map[string]string{"fb1254477777772919": "fb1254477777772919", "ig6543210987654321": "ig6543210987654321",
		"fb": "", "igabc": "", "fb12x": "", "fb1234567890123456789012345": ""} {
		got, ok := g.customer(in)
		if got != want || ok != (want != "") {
			t.Errorf("customer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
