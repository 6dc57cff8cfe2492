package identity

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
)

// Store key layout. Values under userKey are JSON records; index values
// are user ids.
const (
	keyPrefix      = "identity/"
	userKeyPrefix  = keyPrefix + "user/"
	usernamePrefix = keyPrefix + "username/"
	emailPrefix    = keyPrefix + "email/"
	lockPrefix     = keyPrefix + "lock/user/"

	// lockTTL bounds how long a crashed holder can block mutations of one
	// user; the work done under the lock is a few store calls.
	lockTTL = 15 * time.Second
)

func userKey(id string) string            { return userKeyPrefix + id }
func usernameKey(name string) string      { return usernamePrefix + fold(name) }
func emailKey(email string) string        { return emailPrefix + fold(email) }
func lockKey(id string) string            { return lockPrefix + id }
func isNotFound(err error) bool           { return errors.Is(err, store.ErrNotFound) }
func isExists(err error) bool             { return errors.Is(err, store.ErrExists) }
func storeErr(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }

// tombstone is the record of a deleted store user.
const tombstone = `{"deleted":true}`

// record is the stored form of a store user. A deleted user is the
// tombstone {"deleted":true}, which keeps the id from being reused.
type record struct {
	Deleted bool `json:"deleted,omitempty"`
	User
}

// Directory looks users up and checks their passwords, over read-only
// config users and store-backed users. It is safe for concurrent use.
type Directory struct {
	st     store.Store
	hasher *Hasher
	log    *slog.Logger

	// Config users, immutable after NewDirectory.
	byID       map[string]*User
	byUsername map[string]*User // folded username
	byEmail    map[string]*User // folded e-mail address

	// dummyHash is verified against for logins that have no hash to
	// check, so they cost the same argon2 work as a wrong password.
	dummyHash string
}

// NewDirectory returns a Directory over st with the given config users,
// hashing and verifying passwords with h. A nil logger discards logs.
//
// Each config user is validated (id and username required; no whitespace
// or control characters; no "@" in usernames; a bare e-mail address if
// set; a well-formed argon2id hash if set, see [ParseHash]), and ids,
// usernames and e-mail addresses must be unique among config users
// (case-insensitively for usernames and addresses) and must not belong to
// a store user; errors name the offending user's id. Config users'
// Source is set to [SourceConfig].
//
// NewDirectory computes one hash with h's current parameters, used to
// make unknown logins cost as much as known ones.
func NewDirectory(st store.Store, h *Hasher, configUsers []User, logger *slog.Logger) (*Directory, error) {
	if st == nil {
		return nil, errors.New("new directory: nil store")
	}
	if h == nil {
		return nil, errors.New("new directory: nil hasher")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Directory{
		st:         st,
		hasher:     h,
		log:        logger,
		byID:       make(map[string]*User, len(configUsers)),
		byUsername: make(map[string]*User, len(configUsers)),
		byEmail:    make(map[string]*User, len(configUsers)),
	}
	for i := range configUsers {
		u := configUsers[i].clone()
		u.Source = SourceConfig
		if u.ID == "" {
			return nil, fmt.Errorf("new directory: config user #%d (username %q): id is required", i+1, u.Username)
		}
		if err := u.validate(); err != nil {
			return nil, fmt.Errorf("new directory: config user %q: %w", u.ID, err)
		}
		if u.PasswordHash != "" {
			if _, err := ParseHash(u.PasswordHash); err != nil {
				return nil, fmt.Errorf("new directory: config user %q: password hash: %w", u.ID, err)
			}
		}
		if o, ok := d.byID[u.ID]; ok {
			return nil, fmt.Errorf("new directory: config user %q: duplicate id (also username %q)", u.ID, o.Username)
		}
		if o, ok := d.byUsername[fold(u.Username)]; ok {
			return nil, fmt.Errorf("new directory: config user %q: username %q already used by config user %q", u.ID, u.Username, o.ID)
		}
		if u.Email != "" {
			if o, ok := d.byEmail[fold(u.Email)]; ok {
				return nil, fmt.Errorf("new directory: config user %q: email %q already used by config user %q", u.ID, u.Email, o.ID)
			}
		}
		p := &u
		d.byID[u.ID] = p
		d.byUsername[fold(u.Username)] = p
		if u.Email != "" {
			d.byEmail[fold(u.Email)] = p
		}
	}

	ctx := context.Background()
	for _, u := range d.byID {
		if err := d.checkNoStoreCollision(ctx, u); err != nil {
			return nil, fmt.Errorf("new directory: %w", err)
		}
	}

	var pw [32]byte
	if _, err := rand.Read(pw[:]); err != nil {
		return nil, fmt.Errorf("new directory: dummy password: %w", err)
	}
	dummy, err := h.Hash(ctx, base32.StdEncoding.EncodeToString(pw[:]))
	if err != nil {
		return nil, fmt.Errorf("new directory: dummy hash: %w", err)
	}
	d.dummyHash = dummy
	return d, nil
}

// checkNoStoreCollision fails when config user u's id (live or deleted),
// username or e-mail address is held in the store, since the config user
// would otherwise shadow, or reuse the subject of, another person.
func (d *Directory) checkNoStoreCollision(ctx context.Context, u *User) error {
	if _, err := d.st.Get(ctx, userKey(u.ID)); err == nil {
		return fmt.Errorf("config user %q: id is already used by a store user (possibly deleted): %w", u.ID, ErrExists)
	} else if !isNotFound(err) {
		return fmt.Errorf("config user %q: check store: %w", u.ID, err)
	}
	keys := []string{usernameKey(u.Username)}
	if u.Email != "" {
		keys = append(keys, emailKey(u.Email))
	}
	for _, k := range keys {
		owner, err := d.storeIndex(ctx, k)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("config user %q: check store: %w", u.ID, err)
		}
		what := "username"
		if strings.HasPrefix(k, emailPrefix) {
			what = "email"
		}
		return fmt.Errorf("config user %q: %s is already used by store user %q: %w", u.ID, what, owner.ID, ErrExists)
	}
	return nil
}

// Authenticate returns the user whose username or e-mail address
// (case-insensitively) is login, if password is theirs.
//
// It returns [ErrInvalidCredentials] for an unknown login, a user without
// a password, or a wrong password, and [ErrDisabled], together with the
// user, only when the password is right but the user is disabled. Every
// one of these paths computes exactly one argon2 hash: unknown logins and
// users without a password are checked against a dummy hash made with the
// current parameters. Other errors (store failures, a done context) are
// returned wrapped.
func (d *Directory) Authenticate(ctx context.Context, login, password string) (User, error) {
	u, err := d.lookupLogin(ctx, login)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if err != nil || u.PasswordHash == "" {
		if _, err := d.hasher.Verify(ctx, d.dummyHash, password); err != nil {
			return User{}, fmt.Errorf("authenticate: %w", err)
		}
		return User{}, ErrInvalidCredentials
	}
	ok, err := d.hasher.Verify(ctx, u.PasswordHash, password)
	if errors.Is(err, ErrMalformedHash) {
		// Only store users can get here (config hashes are checked at
		// start-up). Spend the same work and refuse.
		d.log.ErrorContext(ctx, "stored password hash is malformed; user cannot sign in",
			"user_id", u.ID, "source", u.Source, "error", err)
		if _, err := d.hasher.Verify(ctx, d.dummyHash, password); err != nil {
			return User{}, fmt.Errorf("authenticate: %w", err)
		}
		return User{}, ErrInvalidCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if !ok {
		return User{}, ErrInvalidCredentials
	}
	if u.Disabled {
		return u.public(), ErrDisabled
	}
	return u.public(), nil
}

// ByID returns the user with the given id, or [ErrNotFound] (also for a
// deleted store user).
func (d *Directory) ByID(ctx context.Context, id string) (User, error) {
	u, err := d.lookupID(ctx, id)
	if err != nil {
		return User{}, fmt.Errorf("user by id: %w", err)
	}
	return u.public(), nil
}

// ByLogin returns the user whose username or, for a login containing "@",
// e-mail address is login, compared case-insensitively; or [ErrNotFound].
func (d *Directory) ByLogin(ctx context.Context, login string) (User, error) {
	u, err := d.lookupLogin(ctx, login)
	if err != nil {
		return User{}, fmt.Errorf("user by login: %w", err)
	}
	return u.public(), nil
}

// lookupID returns the full user (with hash) for id.
func (d *Directory) lookupID(ctx context.Context, id string) (User, error) {
	if u, ok := d.byID[id]; ok {
		return u.clone(), nil
	}
	if id == "" {
		return User{}, ErrNotFound
	}
	rec, err := d.getRecord(ctx, id)
	if err != nil {
		return User{}, err
	}
	if rec.Deleted {
		return User{}, ErrNotFound
	}
	return rec.User, nil
}

// lookupLogin returns the full user (with hash) for a username or e-mail
// address. Usernames cannot contain "@", so a login containing one is
// looked up as an address only.
func (d *Directory) lookupLogin(ctx context.Context, login string) (User, error) {
	login = strings.TrimSpace(login)
	if login == "" {
		return User{}, ErrNotFound
	}
	var key string
	if strings.Contains(login, "@") {
		if u, ok := d.byEmail[fold(login)]; ok {
			return u.clone(), nil
		}
		key = emailKey(login)
	} else {
		if u, ok := d.byUsername[fold(login)]; ok {
			return u.clone(), nil
		}
		key = usernameKey(login)
	}
	return d.storeIndex(ctx, key)
}

// storeIndex resolves an index key to a live store user. An index entry
// whose user is missing, deleted or no longer carries that username or
// address (a reservation of an unfinished Create, or an unfinished
// Delete) counts as not found.
func (d *Directory) storeIndex(ctx context.Context, key string) (User, error) {
	id, err := d.st.Get(ctx, key)
	if isNotFound(err) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, storeErr("read index", err)
	}
	rec, err := d.getRecord(ctx, string(id))
	if err != nil {
		return User{}, err
	}
	if rec.Deleted {
		return User{}, ErrNotFound
	}
	if usernameKey(rec.Username) != key && (rec.Email == "" || emailKey(rec.Email) != key) {
		return User{}, ErrNotFound
	}
	return rec.User, nil
}

// getRecord reads and decodes the record of store user id, or returns
// ErrNotFound.
func (d *Directory) getRecord(ctx context.Context, id string) (record, error) {
	b, err := d.st.Get(ctx, userKey(id))
	if isNotFound(err) {
		return record{}, ErrNotFound
	}
	if err != nil {
		return record{}, storeErr("read user", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return record{}, fmt.Errorf("decode user %q: %w", id, err)
	}
	if !rec.Deleted && rec.ID != id {
		return record{}, fmt.Errorf("decode user %q: record holds id %q", id, rec.ID)
	}
	rec.Source = SourceStore
	return rec, nil
}

// newID returns "u_" followed by 26 lower-case base32 characters of 16
// random bytes.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "u_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])), nil
}

// Create stores a new store user and returns it (without its hash).
//
// An empty u.ID gets a fresh opaque id ("u_" and 26 base32 characters).
// u.PasswordHash is ignored: a non-empty password is hashed with the
// current parameters, and an empty one leaves the user without a password.
// u.Source, u.CreatedAt and u.UpdatedAt are set by Create.
//
// Fields are validated as for config users; failures wrap
// [ErrInvalidUser]. Create returns an error wrapping [ErrExists] when the
// id (even of a deleted user), the username or the e-mail address is
// taken, by a config user or a store user. Uniqueness holds under
// concurrent calls; on failure, any reservation already made is released.
func (d *Directory) Create(ctx context.Context, u User, password string) (User, error) {
	u = u.clone()
	u.PasswordHash = ""
	if u.ID == "" {
		id, err := newID()
		if err != nil {
			return User{}, fmt.Errorf("create user: generate id: %w", err)
		}
		u.ID = id
	}
	if err := u.validate(); err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	if _, ok := d.byID[u.ID]; ok {
		return User{}, fmt.Errorf("create user: id belongs to a config user: %w", ErrExists)
	}
	if _, ok := d.byUsername[fold(u.Username)]; ok {
		return User{}, fmt.Errorf("create user: username belongs to a config user: %w", ErrExists)
	}
	if u.Email != "" {
		if _, ok := d.byEmail[fold(u.Email)]; ok {
			return User{}, fmt.Errorf("create user: email belongs to a config user: %w", ErrExists)
		}
	}
	if password != "" {
		// Hash before reserving anything, so no reservation is held while
		// waiting for a hashing slot.
		hash, err := d.hasher.Hash(ctx, password)
		if err != nil {
			return User{}, fmt.Errorf("create user: %w", err)
		}
		u.PasswordHash = hash
	}
	now := time.Now().UTC().Round(0)
	u.CreatedAt, u.UpdatedAt = now, now
	u.Source = SourceStore
	val, err := json.Marshal(record{User: u})
	if err != nil {
		return User{}, fmt.Errorf("create user: encode: %w", err)
	}

	// Reserve the index entries first, then the record: a reader resolving
	// a reservation whose record does not exist yet (or belongs to someone
	// else, when the id is taken) sees not-found, see storeIndex.
	var reserved []string
	release := func() {
		// Release even when ctx is cancelled.
		rctx := context.WithoutCancel(ctx)
		for _, k := range reserved {
			if err := d.st.Delete(rctx, k); err != nil {
				d.log.ErrorContext(ctx, "create user: could not release reservation",
					"key", k, "user_id", u.ID, "error", err)
			}
		}
	}
	reserve := func(what, key string) error {
		err := d.st.Create(ctx, key, []byte(u.ID), 0)
		if isExists(err) {
			return fmt.Errorf("create user: reserve %s: %w", what, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("create user: reserve %s: %w", what, err)
		}
		reserved = append(reserved, key)
		return nil
	}
	if err := reserve("username", usernameKey(u.Username)); err != nil {
		return User{}, err
	}
	if u.Email != "" {
		if err := reserve("email", emailKey(u.Email)); err != nil {
			release()
			return User{}, err
		}
	}
	if err := d.st.Create(ctx, userKey(u.ID), val, 0); err != nil {
		release()
		if isExists(err) {
			return User{}, fmt.Errorf("create user: reserve id: %w", ErrExists)
		}
		return User{}, fmt.Errorf("create user: write record: %w", err)
	}
	d.log.InfoContext(ctx, "user created", "user_id", u.ID, "source", SourceStore)
	return u.public(), nil
}

// Delete deletes store user id: its username and e-mail address become
// free, and its id stays reserved by a tombstone so it is never reused.
// It returns [ErrReadOnly] for a config user and [ErrNotFound] for an
// unknown or already deleted id. A Delete interrupted half-way can be
// retried.
func (d *Directory) Delete(ctx context.Context, id string) error {
	if _, ok := d.byID[id]; ok {
		return fmt.Errorf("delete user: %w", ErrReadOnly)
	}
	return d.withLock(ctx, "delete user", id, func() error {
		rec, err := d.getRecord(ctx, id)
		if err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		if rec.Deleted {
			return fmt.Errorf("delete user: %w", ErrNotFound)
		}
		// Free the index entries first: if we stop half-way the user still
		// exists and Delete can be retried.
		keys := []string{usernameKey(rec.Username)}
		if rec.Email != "" {
			keys = append(keys, emailKey(rec.Email))
		}
		for _, k := range keys {
			if err := d.releaseIndex(ctx, k, id); err != nil {
				return fmt.Errorf("delete user: release index: %w", err)
			}
		}
		if err := d.st.Put(ctx, userKey(id), []byte(tombstone), 0); err != nil {
			return fmt.Errorf("delete user: write tombstone: %w", err)
		}
		d.log.InfoContext(ctx, "user deleted", "user_id", id)
		return nil
	})
}

// releaseIndex deletes index key if it still points at id.
func (d *Directory) releaseIndex(ctx context.Context, key, id string) error {
	v, err := d.st.Get(ctx, key)
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if string(v) != id {
		return nil
	}
	return d.st.Delete(ctx, key)
}

// SetDisabled disables or re-enables store user id. It returns
// [ErrReadOnly] for a config user and [ErrNotFound] for an unknown or
// deleted id.
func (d *Directory) SetDisabled(ctx context.Context, id string, disabled bool) error {
	if _, ok := d.byID[id]; ok {
		return fmt.Errorf("set disabled: %w", ErrReadOnly)
	}
	return d.withLock(ctx, "set disabled", id, func() error {
		rec, err := d.getRecord(ctx, id)
		if err != nil {
			return fmt.Errorf("set disabled: %w", err)
		}
		if rec.Deleted {
			return fmt.Errorf("set disabled: %w", ErrNotFound)
		}
		if rec.Disabled == disabled {
			return nil
		}
		rec.Disabled = disabled
		rec.UpdatedAt = time.Now().UTC().Round(0)
		val, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("set disabled: encode: %w", err)
		}
		if err := d.st.Put(ctx, userKey(id), val, 0); err != nil {
			return fmt.Errorf("set disabled: write record: %w", err)
		}
		d.log.InfoContext(ctx, "user disabled state changed", "user_id", id, "disabled", disabled)
		return nil
	})
}

// withLock runs fn holding a per-user lock in the store, so read-modify-
// write mutations of one user (from any replica) do not interleave; for
// example a SetDisabled cannot resurrect a user a concurrent Delete has
// just removed. It waits for the lock until ctx is done.
func (d *Directory) withLock(ctx context.Context, op, id string, fn func() error) error {
	if id == "" {
		return fmt.Errorf("%s: %w", op, ErrNotFound)
	}
	key := lockKey(id)
	wait := 2 * time.Millisecond
	for {
		err := d.st.Create(ctx, key, []byte("locked"), lockTTL)
		if err == nil {
			break
		}
		if !isExists(err) {
			return fmt.Errorf("%s: lock user: %w", op, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: lock user: %w", op, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	defer func() {
		if err := d.st.Delete(context.WithoutCancel(ctx), key); err != nil {
			d.log.ErrorContext(ctx, "could not release user lock", "user_id", id, "error", err)
		}
	}()
	return fn()
}
