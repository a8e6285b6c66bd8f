package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pbxgate/pbxgate/gateway/store"
	"github.com/pbxgate/pbxgate/gateway/users"
)

const (
	SessionCookie = "pbxgate_session"
	sessionPrefix = "websession/"
	// sessionIdle logs a user out after this long without a request.
	sessionIdle = 12 * time.Hour
	// SessionMax bounds a session's life regardless of use.
	SessionMax = 7 * 24 * time.Hour
	// touchEvery limits store writes for LastSeen to one per interval.
	touchEvery = 5 * time.Minute
)

var errNoSession = errors.New("no valid session")

// session is a logged-in browser. Only the SHA-256 of the cookie value is a
// key, so a copied store does not hand out live sessions.
type session struct {
	User     string    `json:"user"`
	CSRF     string    `json:"csrf"`
	Created  time.Time `json:"created"`
	LastSeen time.Time `json:"last_seen"`

	key string
}

type sessions struct {
	st  *store.Store
	now func() time.Time
}

func RandomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func sessionKey(id string) string {
	sum := sha256.Sum256([]byte(id))
	return sessionPrefix + hex.EncodeToString(sum[:])
}

func ConstantEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// Create stores a new session for user and returns the cookie value.
func (ss *sessions) Create(user string) (id string, sess *session, err error) {
	id = RandomToken()
	now := ss.now().UTC()
	sess = &session{User: user, CSRF: RandomToken(), Created: now, LastSeen: now, key: sessionKey(id)}
	err = ss.st.Update(func(txn *store.Txn) error {
		// Drop expired sessions on login so the prefix stays small.
		var stale []string
		err := store.Each(txn, sessionPrefix, func(key string, val []byte) error {
			var old session
			if jsonUnmarshal(val, &old) != nil || ss.expired(&old, now) {
				stale = append(stale, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range stale {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return store.SetJSON(txn, sess.key, sess)
	})
	return id, sess, err
}

func (ss *sessions) expired(s *session, now time.Time) bool {
	return now.Sub(s.LastSeen) > sessionIdle || now.Sub(s.Created) > SessionMax
}

// FromRequest returns the request's session and its (current) user; a
// deleted user's sessions stop working at once.
func (ss *sessions) FromRequest(ctx context.Context, r *http.Request, us *users.Service) (*session, users.User, error) {
	ck, err := r.Cookie(SessionCookie)
	if err != nil || ck.Value == "" {
		return nil, users.User{}, errNoSession
	}
	key := sessionKey(ck.Value)
	var sess session
	err = ss.st.View(func(txn *store.Txn) error { return store.GetJSON(txn, key, &sess) })
	if errors.Is(err, store.ErrNotFound) {
		return nil, users.User{}, errNoSession
	}
	if err != nil {
		return nil, users.User{}, fmt.Errorf("read session: %w", err)
	}
	sess.key = key
	now := ss.now().UTC()
	if ss.expired(&sess, now) {
		_ = ss.Delete(&sess)
		return nil, users.User{}, errNoSession
	}
	u, err := us.Get(ctx, sess.User)
	if errors.Is(err, users.ErrNotFound) {
		_ = ss.Delete(&sess)
		return nil, users.User{}, errNoSession
	}
	if err != nil {
		return nil, users.User{}, err
	}
	if now.Sub(sess.LastSeen) > touchEvery {
		sess.LastSeen = now
		if err := ss.st.Update(func(txn *store.Txn) error { return store.SetJSON(txn, key, sess) }); err != nil {
			return nil, users.User{}, err
		}
	}
	return &sess, u, nil
}

func (ss *sessions) Delete(s *session) error {
	return ss.st.Update(func(txn *store.Txn) error { return txn.Delete([]byte(s.key)) })
}

// DeleteUser ends every session of user (password change, deletion).
func (ss *sessions) deleteUser(user string, keep *session) error {
	return ss.st.Update(func(txn *store.Txn) error {
		var del []string
		err := store.Each(txn, sessionPrefix, func(key string, val []byte) error {
			var s session
			if jsonUnmarshal(val, &s) == nil && s.User == user && (keep == nil || key != keep.key) {
				del = append(del, key)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range del {
			if err := txn.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}
