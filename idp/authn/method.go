package authn

import (
	"context"
	"errors"
	"net/http"
)

// Method is a way to sign in or a second factor. Name is stable and
// URL-safe (lower-case letters, digits and '-'): it names the method's
// paths (/login/{name}) and its entries in logs.
type Method interface {
	Name() string
}

// Identity is what a method proved: the local user and the RFC 8176
// authentication method references of that proof ("pwd", "otp", "fed"...).
type Identity struct {
	UserID string
	AMR    []string
}

// ErrRejected is wrapped by every method error that means "these
// credentials do not sign anybody in" (wrong password, unknown or
// disabled user, wrong code, refused callback). The text after it is a
// reason for the logs; the user sees one generic message. Any other error
// is a failure of the method itself (a store, a network): the dispatcher
// answers 503 and the user may try again.
var ErrRejected = errors.New("rejected")

// Password is a method that checks a login name and a password.
type Password interface {
	Method
	// Login returns the identity login and password prove.
	Login(ctx context.Context, login, password string) (Identity, error)
}

// RedirectStart is what a redirect method gets when a sign-in with it
// begins.
type RedirectStart struct {
	// CallbackURL is where the method must bring the browser back to
	// (absolute, {public URL}/login/{name}/callback).
	CallbackURL string
	// State must come back unchanged as the callback's "state" query
	// parameter; it names the transaction.
	State string
	// LoginHint is the login name the client suggested, if any.
	LoginHint string
}

// Redirect is a method that sends the browser elsewhere (an upstream
// provider, a mailbox, a partner) and identifies the user when it comes
// back to the callback.
type Redirect interface {
	Method
	// Label is the text of the method's button ("Sign in with Example").
	Label() string
	// Start returns the URL to send the browser to, and state the
	// method wants back at the callback (kept in the transaction, never
	// shown to the browser).
	Start(ctx context.Context, s RedirectStart) (url string, state []byte, err error)
	// Callback reads the callback request and returns the identity.
	Callback(ctx context.Context, r *http.Request, state []byte) (Identity, error)
}

// Challenge is a factor's question to the user.
type Challenge struct {
	// Heading and Prompt tell the user what to do ("Enter the code from
	// your authenticator app").
	Heading string
	Prompt  string
	// Label names the answer field; Autocomplete is its autocomplete
	// hint ("one-time-code").
	Label        string
	Autocomplete string
	// State is what the factor wants back at Verify (a hashed e-mail
	// code, a WebAuthn challenge); kept in the transaction.
	State []byte
}

// Factor is a second factor for a user the transaction already
// identified.
type Factor interface {
	Method
	// Available reports whether user can use this factor (enrolled).
	Available(ctx context.Context, userID string) (bool, error)
	// Challenge starts a challenge (sends a code, makes a nonce).
	Challenge(ctx context.Context, userID string) (Challenge, error)
	// Verify checks the answer against the challenge's state and returns
	// the amr values the factor proved ("otp", "hwk"...).
	Verify(ctx context.Context, userID string, state []byte, answer string) ([]string, error)
}
