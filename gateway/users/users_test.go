package users

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pbxgate/pbxgate/gateway/store"
)

// fast keeps argon2 cheap under -race; the format and verification path are
// the same as with DefaultParams.
var fast = Params{Memory: 64, Time: 1, Threads: 1}

func newService(t *testing.T) (*Service, *store.Store) {
	t.Helper()
	s, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return New(s, WithParams(fast)), s
}

func TestAddAuthenticateList(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := context.Background()
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(ctx, "bob", "battery staple", RoleOperator); err != nil {
		t.Fatal(err)
	}
	if err := svc.Add(ctx, "alice", "another password", RoleOperator); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate add: got %v, want ErrExists", err)
	}
	if err := svc.Add(ctx, "carol", "short", RoleOperator); !errors.Is(err, ErrWeakPassword) || !strings.Contains(err.Error(), "10") {
		t.Fatalf("weak password: got %v", err)
	}
	if err := svc.Add(ctx, "Bad Name", "long enough pw", RoleOperator); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("bad name: got %v", err)
	}
	if err := svc.Add(ctx, "dave", "long enough pw", Role("root")); !errors.Is(err, ErrInvalidRole) {
		t.Fatalf("bad role: got %v", err)
	}

	u, err := svc.Authenticate(ctx, "alice", "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != RoleAdmin || u.LastLogin.IsZero() {
		t.Fatalf("authenticated user = %+v", u)
	}
	if _, err := svc.Authenticate(ctx, "alice", "correct horsE"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: got %v", err)
	}
	if _, err := svc.Authenticate(ctx, "nobody", "correct horse"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: got %v", err)
	}

	list, err := svc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "alice" || list[1].Name != "bob" || list[1].Role != RoleOperator {
		t.Fatalf("list = %+v", list)
	}
	if list[0].LastLogin.IsZero() || !list[1].LastLogin.IsZero() {
		t.Fatalf("last login not recorded correctly: %+v", list)
	}
	if n, err := svc.Count(ctx); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
}

func TestHashIsPHCAndNeverListed(t *testing.T) {
	t.Parallel()
	svc, s := newService(t)
	ctx := context.Background()
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	var r record
	if err := s.View(func(txn *store.Txn) error { return store.GetJSON(txn, userKey("alice"), &r) }); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(r.Hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Count(r.Hash, "$") != 5 {
		t.Fatalf("hash %q is not a PHC argon2id string", r.Hash)
	}
	if strings.Contains(r.Hash, "correct horse") {
		t.Fatal("plaintext in hash")
	}
	// A default-cost hash made elsewhere still verifies: parameters come
	// from the string.
	phc := hashPassword(Params{Memory: 128, Time: 2, Threads: 2}, "pw-1234567890")
	if !verifyPassword(phc, "pw-1234567890") || verifyPassword(phc, "pw-1234567891") {
		t.Fatal("verification with stored parameters failed")
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA", "$argon2id$v=19$m=64,t=1,p=1$AAAA$"} {
		if verifyPassword(bad, "x") {
			t.Fatalf("malformed hash %q verified", bad)
		}
	}
}

// A hash stored with other parameters (an older pbxgate's m=19 MiB, t=2)
// is replaced by one with the Service's at the next successful login, and
// the password keeps working; a wrong password changes nothing.
func TestLoginRehashesOldParameters(t *testing.T) {
	t.Parallel()
	svc, s := newService(t)
	ctx := context.Background()
	old := Params{Memory: 128, Time: 2, Threads: 1}
	if err := svc.SetPasswordHash(ctx, "alice", hashPassword(old, "correct horse")); err != nil {
		t.Fatal(err)
	}
	stored := func() string {
		var r record
		if err := s.View(func(txn *store.Txn) error { return store.GetJSON(txn, userKey("alice"), &r) }); err != nil {
			t.Fatal(err)
		}
		return r.Hash
	}
	before := stored()
	if _, err := svc.Authenticate(ctx, "alice", "wrong horse"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if stored() != before {
		t.Fatal("a failed login changed the hash")
	}
	if _, err := svc.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Fatal(err)
	}
	after := stored()
	if p, ok := phcParams(after); !ok || p != fast {
		t.Fatalf("after login the hash is %q, want parameters %+v", after, fast)
	}
	if _, err := svc.Authenticate(ctx, "alice", "correct horse"); err != nil {
		t.Fatalf("login with the rehashed password: %v", err)
	}
	if stored() != after {
		t.Fatal("a hash with current parameters was rehashed again")
	}
}

func TestSetPasswordRoleDelete(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := context.Background()
	if err := svc.SetPassword(ctx, "ghost", "long enough pw"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("set password of missing user: %v", err)
	}
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetPassword(ctx, "alice", "tiny"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak: %v", err)
	}
	if err := svc.SetPassword(ctx, "alice", "new password!"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, "alice", "correct horse"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal("old password still works")
	}
	if _, err := svc.Authenticate(ctx, "alice", "new password!"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetRole(ctx, "alice", RoleOperator); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("demoting last admin: %v", err)
	}
	if err := svc.Delete(ctx, "alice"); !errors.Is(err, ErrLastAdmin) {
		t.Fatalf("deleting last admin: %v", err)
	}
	if err := svc.Add(ctx, "bob", "battery staple", RoleOperator); err != nil {
		t.Fatal(err)
	}
	tok, err := svc.CreateToken(ctx, "bob", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Delete(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TokenUser(ctx, tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("token of deleted user: %v", err)
	}
	if toks, _ := svc.ListTokens(ctx, ""); len(toks) != 0 {
		t.Fatalf("tokens left after delete: %+v", toks)
	}
}

func TestEnsureAdmin(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx := context.Background()
	pw, created, err := svc.EnsureAdmin(ctx)
	if err != nil || !created || len(pw) < MinPasswordLength {
		t.Fatalf("EnsureAdmin = %q, %v, %v", pw, created, err)
	}
	u, err := svc.Authenticate(ctx, FirstAdmin, pw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Role != RoleAdmin || !u.MustChangePassword {
		t.Fatalf("first admin = %+v", u)
	}
	pw2, created, err := svc.EnsureAdmin(ctx)
	if err != nil || created || pw2 != "" {
		t.Fatalf("second EnsureAdmin = %q, %v, %v", pw2, created, err)
	}
	if err := svc.SetPassword(ctx, FirstAdmin, "chosen by the admin"); err != nil {
		t.Fatal(err)
	}
	u, err = svc.Get(ctx, FirstAdmin)
	if err != nil || u.MustChangePassword {
		t.Fatalf("after password change: %+v, %v", u, err)
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	svc, s := newService(t)
	ctx := context.Background()
	if _, err := svc.CreateToken(ctx, "nobody", "x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for missing user: %v", err)
	}
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	tok, err := svc.CreateToken(ctx, "alice", " monitoring ")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "pbxg_") {
		t.Fatalf("token %q lacks prefix", tok)
	}
	u, err := svc.TokenUser(ctx, tok)
	if err != nil || u.Name != "alice" {
		t.Fatalf("TokenUser = %+v, %v", u, err)
	}
	for _, bad := range []string{"", "pbxg_", tok + "x", "Bearer " + tok} {
		if _, err := svc.TokenUser(ctx, bad); !errors.Is(err, ErrBadToken) {
			t.Fatalf("TokenUser(%q) = %v", bad, err)
		}
	}
	// Only the hash is stored.
	err = s.View(func(txn *store.Txn) error {
		return store.Each(txn, "", func(key string, val []byte) error {
			if strings.Contains(key+string(val), tok) || strings.Contains(key+string(val), tok[5:]) {
				t.Errorf("plaintext token stored under %s", key)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := svc.ListTokens(ctx, "alice")
	if err != nil || len(toks) != 1 || toks[0].Label != "monitoring" || len(toks[0].ID) != 12 {
		t.Fatalf("ListTokens = %+v, %v", toks, err)
	}
	if err := svc.RevokeToken(ctx, "000000000000"); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoking unknown id: %v", err)
	}
	if err := svc.RevokeToken(ctx, toks[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TokenUser(ctx, tok); !errors.Is(err, ErrBadToken) {
		t.Fatalf("revoked token still works: %v", err)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	svc, _ := newService(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); !errors.Is(err, context.Canceled) {
		t.Fatalf("Add with canceled ctx: %v", err)
	}
}

// BenchmarkAuthenticateDefault measures one login with the production
// argon2id parameters.
func BenchmarkAuthenticateDefault(b *testing.B) {
	s, err := store.Open(store.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	svc := New(s)
	ctx := context.Background()
	if err := svc.Add(ctx, "alice", "correct horse", RoleAdmin); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.Authenticate(ctx, "alice", "correct horse"); err != nil {
			b.Fatal(err)
		}
	}
}
