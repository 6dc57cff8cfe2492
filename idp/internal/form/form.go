// Package form reads the forms that Gatehouse's own pages post: one body
// cap, one content-type check, one CSRF check and one set of readable
// error pages for every sign-in, consent and account form.
package form

import (
	"errors"
	"log/slog"
	"mime"
	"net/http"

	"github.com/gatehouse-sso/gatehouse/csrf"
)

// Pages renders the error page; *web.Renderer implements it.
type Pages interface {
	Error(w http.ResponseWriter, status int, message string)
}

// Reader reads page forms.
type Reader struct {
	Pages Pages
	CSRF  *csrf.Protector
	Log   *slog.Logger
	// MaxBytes caps the body.
	MaxBytes int64
}

// Read parses r's urlencoded body under the cap and verifies its CSRF
// token. When the request is not acceptable it writes the error page and
// returns false; the caller then stops.
func (f Reader) Read(w http.ResponseWriter, r *http.Request) bool {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/x-www-form-urlencoded" {
		f.Pages.Error(w, http.StatusUnsupportedMediaType, "This form must be sent as application/x-www-form-urlencoded.")
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, f.MaxBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			f.Pages.Error(w, http.StatusRequestEntityTooLarge, "The form was too large.")
			return false
		}
		f.Pages.Error(w, http.StatusBadRequest, "The form could not be read.")
		return false
	}
	if err := f.CSRF.Verify(r); err != nil {
		if f.Log != nil {
			f.Log.InfoContext(r.Context(), "form refused", "reason", err.Error())
		}
		f.Pages.Error(w, http.StatusForbidden, "This form expired or did not come from this site. Go back, reload the page and try again.")
		return false
	}
	return true
}
