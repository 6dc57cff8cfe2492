package oidcrp

import "errors"

// Why a callback was refused. Callers compare with errors.Is and show
// their own page; ErrUnavailable is the provider's failure (answer 503),
// every other one the request's.
var (
	// ErrState: the state is missing, over-long, forged, tampered with or
	// expired.
	ErrState = errors.New("oidcrp: sign-in state is missing, expired or not valid")
	// ErrBinding: the browser does not hold the state's binding cookie
	// (another browser started the flow, or it already came back).
	ErrBinding = errors.New("oidcrp: sign-in state is not bound to this browser")
	// ErrIssuer: the callback's iss names another issuer (RFC 9207), or
	// is missing where the provider promises it.
	ErrIssuer = errors.New("oidcrp: callback from an unexpected issuer")
	// ErrProvider: the provider sent an error back; the error is a
	// *ProviderError.
	ErrProvider = errors.New("oidcrp: the provider refused the sign-in")
	// ErrNoCode: the callback has no (or more than one) code.
	ErrNoCode = errors.New("oidcrp: callback has no authorization code")
	// ErrReplay: the flow was already completed (Config.Once).
	ErrReplay = errors.New("oidcrp: sign-in state already used")
	// ErrRefused: the token endpoint refused the code or refresh token.
	ErrRefused = errors.New("oidcrp: token endpoint refused the grant")
	// ErrUnavailable: the token endpoint could not be reached or failed.
	ErrUnavailable = errors.New("oidcrp: token endpoint unavailable")
	// ErrIDToken: the ID token is missing, not valid, or not this flow's
	// (nonce).
	ErrIDToken = errors.New("oidcrp: ID token refused")
)

// ProviderError is an error response from the authorization endpoint
// (RFC 6749 section 4.1.2.1). Its fields come from the browser's request:
// log the code, never echo them into a page.
type ProviderError struct {
	Code        string
	Description string
}

func (e *ProviderError) Error() string { return "oidcrp: the provider answered " + e.Code }

// Is makes a *ProviderError match ErrProvider.
func (e *ProviderError) Is(target error) bool { return target == ErrProvider }
