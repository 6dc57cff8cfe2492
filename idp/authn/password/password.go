// Package password is the password sign-in method: it checks a login name
// (username or e-mail) and a password against the user directory.
package password

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
)

// Users checks passwords; *identity.Directory implements it.
type Users interface {
	Authenticate(ctx context.Context, login, password string) (identity.User, error)
}

// Method signs in with a password.
type Method struct {
	users Users
}

var _ authn.Password = (*Method)(nil)

// New returns the password method over users.
func New(users Users) *Method { return &Method{users: users} }

// Name is "password".
func (*Method) Name() string { return "password" }

// Login checks login and password. A wrong password, an unknown or a
// disabled user are authn.ErrRejected (with the reason for the logs).
func (m *Method) Login(ctx context.Context, login, password string) (authn.Identity, error) {
	u, err := m.users.Authenticate(ctx, login, password)
	switch {
	case errors.Is(err, identity.ErrInvalidCredentials):
		return authn.Identity{}, fmt.Errorf("%w: invalid credentials", authn.ErrRejected)
	case errors.Is(err, identity.ErrDisabled):
		return authn.Identity{}, fmt.Errorf("%w: user disabled", authn.ErrRejected)
	case err != nil:
		return authn.Identity{}, fmt.Errorf("check password: %w", err)
	}
	return authn.Identity{UserID: u.ID, AMR: []string{"pwd"}}, nil
}
