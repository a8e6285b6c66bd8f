package clicktochat

import (
	"errors"
	"testing"
)

// The link forms Viber (viber://pa?chatURI=…&context=…, REST Bot API
// "Conversation started") and VK (https://vk.me/<name>?ref=…) document.
func TestViberAndVKLinks(t *testing.T) {
	if l, err := Viber("pbxgatedemo", "flyer-2026"); err != nil || l != "viber://pa?chatURI=pbxgatedemo&context=flyer-2026" {
		t.Fatalf("viber %q %v", l, err)
	}
	if l, err := Viber("pbxgatedemo", ""); err != nil || l != "viber://pa?chatURI=pbxgatedemo" {
		t.Fatalf("viber %q %v", l, err)
	}
	if _, err := Viber("pbx gate", ""); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if _, err := Viber("pbxgatedemo", "mit leerzeichen"); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	if l, err := VK("pbxgate_demo", "flyer"); err != nil || l != "https://vk.me/pbxgate_demo?ref=flyer" { // netscope: expected link text, never dialled
		t.Fatalf("vk %q %v", l, err)
	}
	if _, err := VK("", ""); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}
