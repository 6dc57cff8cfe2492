package password

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
)

type users struct {
	u   identity.User
	err error
}

func (f users) Authenticate(context.Context, string, string) (identity.User, error) {
	return f.u, f.err
}

func TestLogin(t *testing.T) {
	broken := errors.New("store down")
	for _, tc := range []struct {
		name     string
		u        users
		rejected bool
		reason   string
		other    error
	}{
		{"ok", users{u: identity.User{ID: "u1"}}, false, "", nil},
		{"wrong password", users{err: identity.ErrInvalidCredentials}, true, "rejected: invalid credentials", nil},
		{"disabled", users{u: identity.User{ID: "u1"}, err: identity.ErrDisabled}, true, "rejected: user disabled", nil},
		{"directory down", users{err: broken}, false, "", broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := New(tc.u).Login(context.Background(), "alice", "pw")
			switch {
			case tc.rejected:
				if !errors.Is(err, authn.ErrRejected) || err.Error() != tc.reason {
					t.Fatalf("err %v", err)
				}
			case tc.other != nil:
				if !errors.Is(err, tc.other) || errors.Is(err, authn.ErrRejected) {
					t.Fatalf("err %v", err)
				}
			default:
				if err != nil || id.UserID != "u1" || !slices.Equal(id.AMR, []string{"pwd"}) {
					t.Fatalf("%+v %v", id, err)
				}
			}
		})
	}
}
