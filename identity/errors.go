package identity

import "errors"

// ErrNotFound is returned when no user matches an id or login.
var ErrNotFound = errors.New("identity: user not found")

// ErrExists is returned by [Directory.Create] when the id, username or
// e-mail address is already taken, by a config user, a store user or, for
// ids, a deleted store user.
var ErrExists = errors.New("identity: user already exists")

// ErrInvalidCredentials is returned by [Directory.Authenticate] for an
// unknown login, a wrong password, or a user who has no password.
var ErrInvalidCredentials = errors.New("identity: invalid credentials")

// ErrDisabled is returned by [Directory.Authenticate] when the password is
// right but the user is disabled. Callers should log it but show the user
// the same message as for [ErrInvalidCredentials].
var ErrDisabled = errors.New("identity: user disabled")

// ErrReadOnly is returned when a mutation targets a config user.
var ErrReadOnly = errors.New("identity: user is read-only")

// ErrMalformedHash is returned, wrapped with what was wrong, for a password
// hash that is not a well-formed argon2id PHC string or whose parameters
// are out of bounds.
var ErrMalformedHash = errors.New("identity: malformed password hash")

// ErrInvalidUser is returned, wrapped with what was wrong, when a user's
// fields do not validate.
var ErrInvalidUser = errors.New("identity: invalid user")
