package idp

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"sort"
)

// OAuth 2.0 / OpenID Connect error codes.
const (
	errInvalidRequest          = "invalid_request"
	errInvalidClient           = "invalid_client"
	errInvalidGrant            = "invalid_grant"
	errUnauthorizedClient      = "unauthorized_client"
	errUnsupportedGrantType    = "unsupported_grant_type"
	errInvalidScope            = "invalid_scope"
	errAccessDenied            = "access_denied"
	errUnsupportedResponseType = "unsupported_response_type"
	errServerError             = "server_error"
	errTemporarilyUnavailable  = "temporarily_unavailable"
	errLoginRequired           = "login_required"
	errConsentRequired         = "consent_required"
	errRequestNotSupported     = "request_not_supported"
	errRequestURINotSupported  = "request_uri_not_supported"
	errInvalidToken            = "invalid_token"
	errInsufficientScope       = "insufficient_scope"
)

// oauthError is an RFC 6749 error answered as JSON by the token,
// revocation and introspection endpoints.
type oauthError struct {
	Code        string
	Description string
	// Status defaults to 400, or 401 for invalid_client.
	Status int
}

func (e *oauthError) Error() string { return e.Code + ": " + e.Description }

func newError(code, description string) *oauthError {
	return &oauthError{Code: code, Description: description}
}

// noStore marks a response as holding credentials.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

// writeError is the one writer of OAuth JSON errors. A 401 invalid_client
// carries WWW-Authenticate: Basic (RFC 6749 §5.2, RFC 7235).
func (p *Provider) writeError(w http.ResponseWriter, e *oauthError) {
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
		if e.Code == errInvalidClient {
			status = http.StatusUnauthorized
		}
	}
	h := w.Header()
	noStore(h)
	if status == http.StatusUnauthorized && e.Code == errInvalidClient {
		h.Set("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	}
	writeJSON(w, status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description,omitempty"`
	}{e.Code, e.Description})
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// parsePostForm reads an application/x-www-form-urlencoded body under the
// body cap into r.PostForm and refuses repeated parameters (RFC 6749 §3.1,
// §3.2). Query parameters are not read.
func (p *Provider) parsePostForm(w http.ResponseWriter, r *http.Request) *oauthError {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		return newError(errInvalidRequest, "the request body must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, p.o.MaxBodyBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &oauthError{Code: errInvalidRequest, Description: "the request body is too large", Status: http.StatusRequestEntityTooLarge}
		}
		return newError(errInvalidRequest, "the request body could not be parsed")
	}
	if name := repeated(r.PostForm); name != "" {
		return newError(errInvalidRequest, "parameter "+quote(name)+" is repeated")
	}
	return nil
}

// repeated returns the first (in name order) parameter given more than
// once, or "".
func repeated(v url.Values) string {
	var names []string
	for k, vs := range v {
		if len(vs) > 1 {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return ""
	}
	sort.Strings(names)
	return names[0]
}
