// Package users keeps the portal's users and API tokens in the store
// (prefix "user/"). Passwords are hashed with argon2id and stored in the PHC
// string format, so the parameters can be raised later without breaking
// existing hashes; API tokens are stored only as their SHA-256.
package users

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
	"golang.org/x/crypto/argon2"
)

// Role decides what a user may do in the portal.
type Role string

const (
	// RoleAdmin may change every setting and manage users.
	RoleAdmin Role = "admin"
	// RoleOperator runs campaigns and chats but changes no settings.
	RoleOperator Role = "operator"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleOperator }

// MinPasswordLength is the shortest password Add and SetPassword accept.
const MinPasswordLength = 10

// Sentinel errors callers branch on.
var (
	ErrExists         = errors.New("user already exists")
	ErrNotFound       = errors.New("user not found")
	ErrWeakPassword   = fmt.Errorf("password too short: use at least %d characters", MinPasswordLength)
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrInvalidName    = errors.New("invalid user name: use 1-64 characters a-z, 0-9, '.', '_' or '-'")
	ErrInvalidRole    = errors.New("invalid role: use admin or operator")
	ErrBadToken       = errors.New("unknown or revoked API token")
	ErrLastAdmin      = errors.New("cannot remove the last admin")
)

const (
	userPrefix  = "user/u/"
	tokenPrefix = "user/token/"
	// FirstAdmin is the user EnsureAdmin creates on first run.
	FirstAdmin = "admin"
	// tokenPrefixText marks pbxgate tokens so they are recognisable in
	// configs and secret scanners.
	tokenPrefixText = "pbxg_"
)

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// User is a portal user as callers see it; the hash never leaves the package.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Created   time.Time `json:"created"`
	LastLogin time.Time `json:"last_login,omitzero"`
	// MustChangePassword is set for the first-run admin whose password was
	// generated and printed on the console; SetPassword clears it.
	MustChangePassword bool `json:"must_change_password,omitempty"`
}

type record struct {
	User
	Hash string `json:"hash"`
}

// Token describes an API token without its secret.
type Token struct {
	ID      string    `json:"id"`
	User    string    `json:"user"`
	Label   string    `json:"label"`
	Created time.Time `json:"created"`
}

type tokenRecord struct {
	Token
}

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// bounded reports whether p stays within what one verification may cost
// (a stored or provisioned hash names its own parameters): at most 256 MiB,
// 32 passes and 16 lanes.
func (p Params) bounded() bool {
	return p.Memory >= 8 && p.Memory <= 256<<10 && p.Time >= 1 && p.Time <= 32 && p.Threads >= 1 && p.Threads <= 16
}

// DefaultParams are one of OWASP's equivalent minimum settings for argon2id
// (Password Storage Cheat Sheet: m=47104 t=1, m=19456 t=2, m=12288 t=3,
// m=9216 t=4 or m=7168 t=5, each with p=1 — "equal levels of defense"):
// 7 MiB and 5 passes cost about the CPU time of 19 MiB and 2 passes, but a
// hash holds 7 MiB instead of 19 MiB of the appliance's memory budget
// (docs/benchmarks.md, "Memory budget: the peak"). Hashes stored with other
// parameters keep verifying and are rehashed with these at the user's next
// successful login (Authenticate).
var DefaultParams = Params{Memory: 7168, Time: 5, Threads: 1}

// owaspMinimum lists OWASP's equivalent argon2id minimums (memory in KiB,
// passes; one lane each).
var owaspMinimum = []Params{
	{Memory: 47104, Time: 1, Threads: 1},
	{Memory: 19456, Time: 2, Threads: 1},
	{Memory: 12288, Time: 3, Threads: 1},
	{Memory: 9216, Time: 4, Threads: 1},
	{Memory: 7168, Time: 5, Threads: 1},
}

// MeetsOWASP reports whether p is at or above one of OWASP's equivalent
// argon2id minimums (at least its memory and its passes).
func (p Params) MeetsOWASP() bool {
	for _, m := range owaspMinimum {
		if p.Memory >= m.Memory && p.Time >= m.Time && p.Threads >= m.Threads {
			return true
		}
	}
	return false
}

// Service manages users and tokens.
type Service struct {
	s      *store.Store
	params Params
	now    func() time.Time
	// gate bounds the argon2id hashes running and waiting at once.
	gate *HashGate
	// dummy is a hash verified when the user does not exist, so a missing
	// user costs as much time as a wrong password.
	dummy string
}

// Option configures a Service.
type Option func(*Service)

// WithParams sets the argon2id cost for new hashes (tests use tiny ones;
// existing hashes keep verifying with the parameters stored in them).
func WithParams(p Params) Option { return func(s *Service) { s.params = p } }

// WithHashGate replaces the default gate (DefaultMaxHashes at once,
// DefaultHashQueue waiting) that bounds the Service's password hashing.
func WithHashGate(g *HashGate) Option { return func(s *Service) { s.gate = g } }

// New returns a Service on s.
func New(s *store.Store, opts ...Option) *Service {
	svc := &Service{s: s, params: DefaultParams, now: time.Now}
	for _, o := range opts {
		o(svc)
	}
	if svc.gate == nil {
		svc.gate = NewHashGate(DefaultMaxHashes, DefaultHashQueue)
	}
	// The gate is empty while New runs: no error is possible.
	svc.dummy, _ = svc.hash(context.Background(), "dummy password for timing")
	return svc
}

// HashStats returns the counters of the gate bounding password hashing.
func (svc *Service) HashStats() HashStats { return svc.gate.Stats() }

// hash hashes password with the Service's parameters through the gate.
func (svc *Service) hash(ctx context.Context, password string) (string, error) {
	var phc string
	err := svc.gate.Do(ctx, func() { phc = hashPassword(svc.params, password) })
	return phc, err
}

// verify checks password against phc through the gate.
func (svc *Service) verify(ctx context.Context, phc, password string) (bool, error) {
	var ok bool
	err := svc.gate.Do(ctx, func() { ok = verifyPassword(phc, password) })
	return ok, err
}

func userKey(name string) string { return userPrefix + name }

// Add creates a user.
func (svc *Service) Add(ctx context.Context, name, password string, role Role) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w (got %q)", ErrInvalidName, name)
	}
	if !role.Valid() {
		return fmt.Errorf("%w (got %q)", ErrInvalidRole, role)
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	return svc.add(ctx, name, password, role, false)
}

func (svc *Service) add(ctx context.Context, name, password string, role Role, mustChange bool) error {
	hash, err := svc.hash(ctx, password)
	if err != nil {
		return err
	}
	rec := record{User: User{Name: name, Role: role, Created: svc.now().UTC(), MustChangePassword: mustChange},
		Hash: hash}
	return svc.s.Update(func(txn *store.Txn) error {
		var old record
		err := store.GetJSON(txn, userKey(name), &old)
		if err == nil {
			return fmt.Errorf("%w: %s", ErrExists, name)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return store.SetJSON(txn, userKey(name), rec)
	})
}

func checkPassword(pw string) error {
	if len([]rune(pw)) < MinPasswordLength {
		return ErrWeakPassword
	}
	return nil
}

// SetPassword replaces a user's password and clears MustChangePassword.
func (svc *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := svc.hash(ctx, password)
	if err != nil {
		return err
	}
	return svc.modify(name, func(r *record) error {
		r.Hash = hash
		r.MustChangePassword = false
		return nil
	})
}

// SetRole changes a user's role; the last admin cannot be demoted.
func (svc *Service) SetRole(ctx context.Context, name string, role Role) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !role.Valid() {
		return fmt.Errorf("%w (got %q)", ErrInvalidRole, role)
	}
	return svc.s.Update(func(txn *store.Txn) error {
		var r record
		if err := getUser(txn, name, &r); err != nil {
			return err
		}
		if r.Role == RoleAdmin && role != RoleAdmin && adminCount(txn) <= 1 {
			return ErrLastAdmin
		}
		r.Role = role
		return store.SetJSON(txn, userKey(name), r)
	})
}

// Delete removes a user and the user's API tokens; the last admin stays.
func (svc *Service) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return svc.s.Update(func(txn *store.Txn) error {
		var r record
		if err := getUser(txn, name, &r); err != nil {
			return err
		}
		if r.Role == RoleAdmin && adminCount(txn) <= 1 {
			return ErrLastAdmin
		}
		var del []string
		err := store.Each(txn, tokenPrefix, func(key string, val []byte) error {
			var t tokenRecord
			if err := jsonUnmarshal(val, &t); err != nil {
				return err
			}
			if t.User == name {
				del = append(del, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range append(del, userKey(name)) {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

func adminCount(txn *store.Txn) int {
	n := 0
	_ = store.Each(txn, userPrefix, func(_ string, val []byte) error {
		var r record
		if jsonUnmarshal(val, &r) == nil && r.Role == RoleAdmin {
			n++
		}
		return nil
	})
	return n
}

func getUser(txn *store.Txn, name string, r *record) error {
	err := store.GetJSON(txn, userKey(name), r)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return err
}

func (svc *Service) modify(name string, fn func(*record) error) error {
	return svc.s.Update(func(txn *store.Txn) error {
		var r record
		if err := getUser(txn, name, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
		return store.SetJSON(txn, userKey(name), r)
	})
}

// Get returns one user.
func (svc *Service) Get(ctx context.Context, name string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	var r record
	err := svc.s.View(func(txn *store.Txn) error { return getUser(txn, name, &r) })
	return r.User, err
}

// List returns every user sorted by name.
func (svc *Service) List(ctx context.Context) ([]User, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list := []User{}
	err := svc.s.View(func(txn *store.Txn) error {
		return store.Each(txn, userPrefix, func(key string, val []byte) error {
			var r record
			if err := jsonUnmarshal(val, &r); err != nil {
				return fmt.Errorf("user record %s is damaged: %w", key, err)
			}
			list = append(list, r.User)
			return nil
		})
	})
	return list, err
}

// Count returns how many users exist.
func (svc *Service) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	err := svc.s.View(func(txn *store.Txn) error {
		n = store.Count(txn, userPrefix)
		return nil
	})
	return n, err
}

// Authenticate checks a name and password and records the login time. It
// returns ErrBadCredentials for an unknown user and a wrong password alike,
// taking about the same time for both. Both hash through the Service's
// HashGate: ErrBusy when too many checks are waiting already.
func (svc *Service) Authenticate(ctx context.Context, name, password string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	var r record
	err := svc.s.View(func(txn *store.Txn) error { return getUser(txn, name, &r) })
	if errors.Is(err, ErrNotFound) {
		if _, err := svc.verify(ctx, svc.dummy, password); err != nil {
			return User{}, err
		}
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, err
	}
	ok, err := svc.verify(ctx, r.Hash, password)
	if err != nil {
		return User{}, err
	}
	if !ok {
		return User{}, ErrBadCredentials
	}
	// A hash made with other parameters (an older pbxgate's 19 MiB, a
	// provisioned one) is replaced by one with the Service's, now that the
	// password is known; a busy gate leaves it for the next login.
	var rehashed string
	if p, ok := phcParams(r.Hash); !ok || p != svc.params {
		if h, err := svc.hash(ctx, password); err == nil {
			rehashed = h
		} else if !errors.Is(err, ErrBusy) {
			return User{}, err
		}
	}
	now := svc.now().UTC()
	err = svc.modify(name, func(rr *record) error {
		rr.LastLogin = now
		if rehashed != "" && rr.Hash == r.Hash { // unless the password changed meanwhile
			rr.Hash = rehashed
		}
		return nil
	})
	if err != nil {
		return User{}, err
	}
	r.LastLogin = now
	return r.User, nil
}

// EnsureAdmin creates the user "admin" with a random password when no user
// exists yet, and returns that password so the daemon can print it once.
// The user must change it at first login (MustChangePassword).
func (svc *Service) EnsureAdmin(ctx context.Context) (generatedPassword string, created bool, err error) {
	n, err := svc.Count(ctx)
	if err != nil || n > 0 {
		return "", false, err
	}
	pw := randomPassword()
	if err := svc.add(ctx, FirstAdmin, pw, RoleAdmin, true); err != nil {
		if errors.Is(err, ErrExists) {
			return "", false, nil
		}
		return "", false, err
	}
	return pw, true, nil
}

// randomPassword is 16 characters from an alphabet without look-alikes
// (0/O, 1/l/I), easy to type from a console.
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// CreateToken creates an API token for user and returns its plaintext, the
// only time it is visible.
func (svc *Service) CreateToken(ctx context.Context, user, label string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(rand.Reader, raw); err != nil {
		return "", err
	}
	plain := tokenPrefixText + base64.RawURLEncoding.EncodeToString(raw)
	h := tokenHash(plain)
	t := tokenRecord{Token{ID: h[:12], User: user, Label: strings.TrimSpace(label), Created: svc.now().UTC()}}
	err := svc.s.Update(func(txn *store.Txn) error {
		var r record
		if err := getUser(txn, user, &r); err != nil {
			return err
		}
		return store.SetJSON(txn, tokenPrefix+h, t)
	})
	if err != nil {
		return "", err
	}
	return plain, nil
}

func tokenHash(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// TokenUser returns the user an API token belongs to.
func (svc *Service) TokenUser(ctx context.Context, token string) (User, error) {
	if err := ctx.Err(); err != nil {
		return User{}, err
	}
	if !strings.HasPrefix(token, tokenPrefixText) {
		return User{}, ErrBadToken
	}
	var r record
	err := svc.s.View(func(txn *store.Txn) error {
		// The lookup is by hash, so timing reveals nothing about the token.
		var t tokenRecord
		err := store.GetJSON(txn, tokenPrefix+tokenHash(token), &t)
		if errors.Is(err, store.ErrNotFound) {
			return ErrBadToken
		}
		if err != nil {
			return err
		}
		if err := getUser(txn, t.User, &r); err != nil {
			return ErrBadToken
		}
		return nil
	})
	return r.User, err
}

// ListTokens returns the tokens of user, or of everyone when user is "".
func (svc *Service) ListTokens(ctx context.Context, user string) ([]Token, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	list := []Token{}
	err := svc.s.View(func(txn *store.Txn) error {
		return store.Each(txn, tokenPrefix, func(_ string, val []byte) error {
			var t tokenRecord
			if err := jsonUnmarshal(val, &t); err != nil {
				return err
			}
			if user == "" || t.User == user {
				list = append(list, t.Token)
			}
			return nil
		})
	})
	slices.SortFunc(list, func(a, b Token) int { return a.Created.Compare(b.Created) })
	return list, err
}

// RevokeToken deletes the token with the given ID (see Token.ID).
func (svc *Service) RevokeToken(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return svc.s.Update(func(txn *store.Txn) error {
		var key string
		err := store.Each(txn, tokenPrefix, func(k string, _ []byte) error {
			if strings.HasPrefix(strings.TrimPrefix(k, tokenPrefix), id) && len(id) == 12 {
				key = k
				return io.EOF
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == "" {
			return fmt.Errorf("%w: id %s", ErrBadToken, id)
		}
		return txn.Delete([]byte(key))
	})
}

// hashPassword returns the PHC string
// $argon2id$v=19$m=…,t=…,p=…$salt$hash (unpadded standard base64).
func hashPassword(p Params, password string) string {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(rand.Reader, salt); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// verifyPassword checks password against a PHC argon2id hash in constant
// time; a malformed hash never verifies.
func verifyPassword(phc, password string) bool {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	p, ok := phcParams(phc)
	if !ok {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// phcParams returns the cost parameters a PHC argon2id hash names, and
// whether they are well-formed and within what a verification may cost.
func phcParams(phc string) (Params, bool) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Params{}, false
	}
	var p Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || !p.bounded() {
		return Params{}, false
	}
	return p, true
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
