package recipients

import "testing"

// Messenger and Instagram ids pasted with their "fb"/"ig" prefix (as the
// portal lists them) are read like Telegram's; the channel gives them
// their own prefix when the campaign is created.
func TestParseIDsMetaPrefixes(t *testing.T) {
	t.Parallel()
	res, err := ParseIDs("fb1254477777772919, IG6543210987654321; fb:42\nfbx", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"tg1254477777772919", "tg6543210987654321", "tg42"}
	if len(res.Valid) != len(want) {
		t.Fatalf("valid %+v, want %v", res.Valid, want)
	}
	for i, w := range want {
		if res.Valid[i].Number != w {
			t.Errorf("valid[%d] %q, want %q", i, res.Valid[i].Number, w)
		}
	}
	if len(res.Invalid) != 1 || res.Invalid[0].Input != "fbx" {
		t.Errorf("invalid %+v", res.Invalid)
	}
}
