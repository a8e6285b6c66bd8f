package pbx

import "testing"

// The extension answers a Viber user as vb<user id> (base64, possibly
// percent-escaped in the SIP URI) and a VK user as vk<user id>
// (drivers/viber.Address, drivers/vk.Address).
func TestCustomerViberAndVK(t *testing.T) {
	g := &Gateway{}
	for in, want := range map[string]string{
		"vb01234567890A=": "vb01234567890A=", "vbAbC%2B%2Fd%3D%3D": "vbAbC+/d==", "vk123456": "vk123456",
		"vk": "", "vb": "", "vkabc": "", "vb-not-base64": "", "vk1234567890123": "",
	} {
		got, ok := g.customer(in)
		if got != want || ok != (want != "") {
			t.Errorf("customer(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}
