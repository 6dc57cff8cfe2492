package idp

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Response modes.
const (
	modeQuery    = "query"
	modeFormPost = "form_post"
)

// Prompt values.
const (
	promptNone          = "none"
	promptLogin         = "login"
	promptConsent       = "consent"
	promptSelectAccount = "select_account"
)

// authorizeRequest is an authorization request, parsed once. It is kept
// (as JSON) while the user signs in or gives consent.
type authorizeRequest struct {
	ClientID            string   `json:"client_id"`
	RedirectURI         string   `json:"redirect_uri"`
	ResponseMode        string   `json:"response_mode,omitempty"` // "" means query
	Scopes              []string `json:"scopes"`
	State               string   `json:"state,omitempty"`
	Nonce               string   `json:"nonce,omitempty"`
	CodeChallenge       string   `json:"code_challenge,omitempty"`
	CodeChallengeMethod string   `json:"code_challenge_method,omitempty"`
	Prompt              []string `json:"prompt,omitempty"`
	// MaxAge is the max_age parameter in seconds; -1 when absent.
	MaxAge    int64  `json:"max_age"`
	LoginHint string `json:"login_hint,omitempty"`
	// ACRValues are the acr_values asked for, in order of preference.
	ACRValues []string `json:"acr_values,omitempty"`
}

// prompts reports whether prompt value v was requested.
func (a *authorizeRequest) prompts(v string) bool { return slices.Contains(a.Prompt, v) }

// formPost reports whether the response goes back as an auto-submitted
// form.
func (a *authorizeRequest) formPost() bool { return a.ResponseMode == modeFormPost }

// Parameter limits.
const (
	maxClientIDLen    = 256
	maxRedirectURILen = 2048
	maxLoginHintLen   = 256
	maxACRValuesLen   = 1024
	// maxMaxAge caps max_age (about 31 years) so that it converts to a
	// time.Duration without overflowing.
	maxMaxAge = 1_000_000_000
)

// parseAuthorize reads an authorization request from its parameters.
//
// pageErr is set, with a sentence for the error page, when the client or
// redirect URI cannot be trusted: the caller must then never redirect. The
// caller still has to check that the client exists and registered the
// redirect URI. Otherwise redirErr is the first problem to report to the
// redirect URI, or nil. known reports whether a scope exists.
//
// Unknown parameters are ignored; login_hint and acr_values are kept;
// ui_locales, display, claims_locales and id_token_hint are accepted and
// ignored.
func parseAuthorize(v url.Values, known func(string) bool) (req authorizeRequest, pageErr string, redirErr *oauthError) {
	req.MaxAge = -1
	for _, name := range []string{"client_id", "redirect_uri"} {
		if len(v[name]) > 1 {
			return req, "The application sent " + name + " more than once.", nil
		}
	}
	req.ClientID = v.Get("client_id")
	req.RedirectURI = v.Get("redirect_uri")
	switch {
	case req.ClientID == "":
		return req, "The application did not say who it is (no client_id).", nil
	case len(req.ClientID) > maxClientIDLen || !utf8.ValidString(req.ClientID):
		return req, "The application sent an unknown client_id.", nil
	case req.RedirectURI == "":
		return req, "The application did not say where to return (no redirect_uri).", nil
	case len(req.RedirectURI) > maxRedirectURILen || !utf8.ValidString(req.RedirectURI):
		return req, "The application asked to return to an address that is not registered for it (redirect_uri).", nil
	}
	// From here on, problems go back to the redirect URI, which the caller
	// checks before using it. The response mode comes first: it says how
	// to send every later error.
	req.State = v.Get("state")
	switch m := v.Get("response_mode"); m {
	case "", modeQuery, modeFormPost:
		req.ResponseMode = m
		if m == modeQuery {
			req.ResponseMode = ""
		}
	default:
		return req, "", newError(errInvalidRequest, "response_mode "+quote(m)+" is not supported")
	}
	if name := repeated(v); name != "" {
		return req, "", newError(errInvalidRequest, "parameter "+quote(name)+" is repeated")
	}
	// state and nonce are stored (as JSON) while the user signs in, and
	// must come back byte for byte: refuse what JSON would alter.
	if len(req.State) > maxParamLen || !utf8.ValidString(req.State) {
		return req, "", newError(errInvalidRequest, "state must be valid UTF-8 of at most 4096 bytes")
	}
	if v.Has("request") {
		return req, "", newError(errRequestNotSupported, "request objects are not supported")
	}
	if v.Has("request_uri") {
		return req, "", newError(errRequestURINotSupported, "request_uri is not supported")
	}
	switch rt := v.Get("response_type"); rt {
	case "code":
	case "":
		return req, "", newError(errInvalidRequest, "response_type is required")
	default:
		return req, "", newError(errUnsupportedResponseType, "response_type "+quote(rt)+" is not supported; use code")
	}
	req.Scopes = splitScopes(v.Get("scope"))
	if len(req.Scopes) == 0 {
		return req, "", newError(errInvalidScope, "scope is required")
	}
	for _, s := range req.Scopes {
		if !known(s) {
			return req, "", newError(errInvalidScope, "scope "+quote(s)+" is not known")
		}
	}
	req.CodeChallenge = v.Get("code_challenge")
	req.CodeChallengeMethod = v.Get("code_challenge_method")
	switch {
	case req.CodeChallengeMethod == "plain" || (req.CodeChallengeMethod == "" && req.CodeChallenge != ""):
		// RFC 7636 makes a missing method mean plain.
		return req, "", newError(errInvalidRequest, "PKCE method plain is not supported")
	case req.CodeChallengeMethod != "" && req.CodeChallengeMethod != "S256":
		return req, "", newError(errInvalidRequest, "code_challenge_method "+quote(req.CodeChallengeMethod)+" is not supported; use S256")
	case req.CodeChallengeMethod != "" && req.CodeChallenge == "":
		return req, "", newError(errInvalidRequest, "code_challenge required")
	case req.CodeChallenge != "" && !validPKCE(req.CodeChallenge):
		return req, "", newError(errInvalidRequest, "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	if p := v.Get("prompt"); p != "" {
		for _, f := range strings.Split(p, " ") {
			switch f {
			case "":
				continue
			case promptNone, promptLogin, promptConsent, promptSelectAccount:
				if !slices.Contains(req.Prompt, f) {
					req.Prompt = append(req.Prompt, f)
				}
			default:
				return req, "", newError(errInvalidRequest, "prompt value "+quote(f)+" is not supported")
			}
		}
		if req.prompts(promptNone) && len(req.Prompt) > 1 {
			return req, "", newError(errInvalidRequest, "prompt=none cannot be combined with other prompt values")
		}
	}
	if m := v.Get("max_age"); m != "" {
		n, err := strconv.ParseInt(m, 10, 64)
		if err != nil || n < 0 {
			return req, "", newError(errInvalidRequest, "max_age must be a non-negative integer")
		}
		req.MaxAge = min(n, maxMaxAge)
	}
	req.Nonce = v.Get("nonce")
	if len(req.Nonce) > maxNonceLen || !utf8.ValidString(req.Nonce) {
		return req, "", newError(errInvalidRequest, "nonce must be valid UTF-8 of at most 1024 bytes")
	}
	if h := v.Get("login_hint"); len(h) <= maxLoginHintLen && utf8.ValidString(h) {
		req.LoginHint = h
	}
	if a := v.Get("acr_values"); a != "" {
		if len(a) > maxACRValuesLen || !utf8.ValidString(a) {
			return req, "", newError(errInvalidRequest, "acr_values must be valid UTF-8 of at most 1024 bytes")
		}
		req.ACRValues = strings.Fields(a)
	}
	return req, "", nil
}

// validPKCE reports whether s is a well-formed code challenge or code
// verifier: 43 to 128 characters of the unreserved set (RFC 7636 §4.1).
func validPKCE(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '_', c == '~':
		default:
			return false
		}
	}
	return true
}

// quote renders a client-supplied value for an error description, cut
// short so error responses stay small.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}
