package users

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/pbxgate/pbxgate/gateway/store"
	"golang.org/x/crypto/argon2"
)

// ErrBadHash: a provisioned password hash is not an argon2id PHC string.
var ErrBadHash = errors.New("password hash is not an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)")

// HashPassword returns the argon2id PHC string for password with
// DefaultParams. Provisioning uses it so an installer hands a hash, never the
// password, to the device.
func HashPassword(password string) (string, error) {
	if err := checkPassword(password); err != nil {
		return "", err
	}
	return hashPassword(DefaultParams, password), nil
}

// CheckHash reports whether phc is a well-formed argon2id PHC string.
func CheckHash(phc string) error {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return ErrBadHash
	}
	var v int
	var p Params
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return ErrBadHash
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil || !p.bounded() {
		return ErrBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	key, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return ErrBadHash
	}
	return nil
}

// SetPasswordHash gives user name (created as an admin when missing) the
// already hashed password phc and clears MustChangePassword: the installer
// chose this password.
func (svc *Service) SetPasswordHash(ctx context.Context, name, phc string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w (got %q)", ErrInvalidName, name)
	}
	if err := CheckHash(phc); err != nil {
		return err
	}
	return svc.s.Update(func(txn *store.Txn) error {
		var r record
		err := getUser(txn, name, &r)
		switch {
		case errors.Is(err, ErrNotFound):
			r = record{User: User{Name: name, Role: RoleAdmin, Created: svc.now().UTC()}}
		case err != nil:
			return err
		}
		r.Hash, r.MustChangePassword = phc, false
		return store.SetJSON(txn, userKey(name), r)
	})
}
