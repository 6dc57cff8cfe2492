package main

import (
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/authn/password"
)

// signInMethods is the one list of sign-in methods and second factors, in
// the order the sign-in page offers them. A new method is its package and
// one line here.
func signInMethods(users *identity.Directory) []authn.Method {
	return []authn.Method{
		password.New(users),
	}
}
