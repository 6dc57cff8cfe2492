package identity

import (
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sources of a [User], as found in [User.Source].
const (
	// SourceConfig marks a read-only user defined in the config file.
	SourceConfig = "config"
	// SourceStore marks a user provisioned at run time and kept in the store.
	SourceStore = "store"
)

// Field length limits, in bytes.
const (
	maxIDLen       = 128
	maxUsernameLen = 256
	maxEmailLen    = 254 // RFC 5321 path limit
)

// User is a person who can sign in through Gatehouse.
//
// Users returned by [Directory] are copies: changing one does not change
// the directory. Their PasswordHash is always empty, so a User can be
// handed to claim mappers and templates without leaking the hash.
type User struct {
	// ID is stable and opaque; it becomes the OIDC "sub" and is never
	// reused for another person.
	ID string `json:"id"`
	// Username is unique, compared case-insensitively, and contains no
	// whitespace, control characters or "@".
	Username string `json:"username"`
	// Email is optional; when set it is unique, compared
	// case-insensitively, and a bare address ("a@example.com").
	Email         string `json:"email,omitempty"`
	EmailVerified bool   `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	GivenName     string `json:"given_name,omitempty"`
	FamilyName    string `json:"family_name,omitempty"`
	Picture       string `json:"picture,omitempty"`
	// Groups the user belongs to; see [User.InGroup].
	Groups []string `json:"groups,omitempty"`
	// Disabled users cannot sign in.
	Disabled bool `json:"disabled,omitempty"`
	// Attributes is a free map for policy and custom claims.
	Attributes map[string]any `json:"attributes,omitempty"`
	// PasswordHash is an argon2id PHC string; empty means the user cannot
	// sign in with a password.
	PasswordHash string    `json:"password_hash,omitempty"`
	CreatedAt    time.Time `json:"created_at,omitzero"`
	UpdatedAt    time.Time `json:"updated_at,omitzero"`
	// Source is SourceConfig or SourceStore. It is set when the user is
	// loaded and never stored.
	Source string `json:"-"`
}

// InGroup reports whether u is a member of group g (exact match).
func (u User) InGroup(g string) bool {
	return slices.Contains(u.Groups, g)
}

// clone returns a deep copy of u, so callers cannot reach the directory's
// own slices and maps.
func (u User) clone() User {
	u.Groups = slices.Clone(u.Groups)
	if u.Attributes != nil {
		u.Attributes = cloneValue(u.Attributes).(map[string]any)
	}
	return u
}

// public returns a deep copy of u without its password hash.
func (u User) public() User {
	c := u.clone()
	c.PasswordHash = ""
	return c
}

// cloneValue deep-copies the maps and slices that YAML and JSON decoding
// produce; other values are returned as they are.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		s := make([]any, len(v))
		for i, e := range v {
			s[i] = cloneValue(e)
		}
		return s
	case []string:
		return slices.Clone(v)
	default:
		return v
	}
}

// fold is the case-insensitive form of a username or e-mail address used
// for indexing and lookup.
func fold(s string) string {
	return strings.ToLower(s)
}

// validate checks the fields a directory relies on. The ID is checked only
// when set.
func (u *User) validate() error {
	if u.ID != "" {
		if err := checkToken("id", u.ID, maxIDLen); err != nil {
			return err
		}
	}
	if u.Username == "" {
		return fmt.Errorf("%w: username is required", ErrInvalidUser)
	}
	if err := checkToken("username", u.Username, maxUsernameLen); err != nil {
		return err
	}
	if strings.Contains(u.Username, "@") {
		// Logins containing "@" are e-mail addresses; forbidding it here
		// keeps a login from matching one user's username and another's
		// e-mail address.
		return fmt.Errorf("%w: username must not contain \"@\"", ErrInvalidUser)
	}
	if u.Email != "" {
		if err := checkToken("email", u.Email, maxEmailLen); err != nil {
			return err
		}
		a, err := mail.ParseAddress(u.Email)
		if err != nil || a.Address != u.Email || a.Name != "" {
			return fmt.Errorf("%w: email is not a bare e-mail address", ErrInvalidUser)
		}
	}
	return nil
}

// checkToken rejects empty, over-long, non-UTF-8 values and values with
// whitespace, control or invisible formatting characters.
func checkToken(field, s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidUser, field)
	case len(s) > maxLen:
		return fmt.Errorf("%w: %s is longer than %d bytes", ErrInvalidUser, field, maxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidUser, field)
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%w: %s contains whitespace, control or format characters", ErrInvalidUser, field)
		}
	}
	return nil
}
