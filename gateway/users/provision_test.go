package users

import (
	"context"
	"errors"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/store"
)

func TestSetPasswordHash(t *testing.T) {
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	svc := New(s, WithParams(Params{Memory: 64, Time: 1, Threads: 1}))
	phc, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := HashPassword("short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak: %v", err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", phc[:len(phc)-30]} {
		if err := svc.SetPasswordHash(ctx, "admin", bad); !errors.Is(err, ErrBadHash) {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	// Creates a missing admin.
	if err := svc.SetPasswordHash(ctx, "admin", phc); err != nil {
		t.Fatal(err)
	}
	u, err := svc.Authenticate(ctx, "admin", "correct horse battery")
	if err != nil || u.Role != RoleAdmin || u.MustChangePassword {
		t.Fatalf("%+v %v", u, err)
	}
	// Replaces the first-run password of an existing user.
	if _, _, err := svc.EnsureAdmin(ctx); err != nil {
		t.Fatal(err)
	}
	phc2, _ := HashPassword("another long password")
	if err := svc.SetPasswordHash(ctx, "admin", phc2); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, "admin", "correct horse battery"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := svc.Authenticate(ctx, "admin", "another long password"); err != nil {
		t.Fatal(err)
	}
}
