package oidcrp

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: the state is untrusted input. Decoding never panics,
// refuses everything but what Start sealed, and a sealed flow opens to
// exactly what went in.
func FuzzDecode(f *testing.F) {
	p := newProvider(f)
	rp := newRP(f, p.config())
	w := httptest.NewRecorder()
	authURL, err := rp.Start(w, redirectURI, map[string]string{"rd": "/x?y=1"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	u, _ := url.Parse(authURL)
	good := u.Query().Get("state") // opens in every worker: same secrets
	f.Add(good, "/docs")
	f.Add(good[:len(good)-1], "")
	f.Add(good+"A", "/")
	f.Add("", "")
	f.Add("|||", "\x00")
	f.Add("MTcwMDAwMDAwMHx8", "//evil.example")
	f.Fuzz(func(t *testing.T, state, rd string) {
		if fl, err := rp.Decode(state); err == nil {
			// Only states sealed with these secrets open (the seeds'; the
			// fuzzing workers seal their own with the same secrets), whole.
			var app map[string]string
			if fl.State != state || fl.RedirectURI != redirectURI || fl.verifier == "" || fl.nonce == "" || fl.App(&app) != nil {
				t.Fatalf("state %q opened to %+v", state, fl)
			}
			for _, i := range []int{0, len(state) / 2} { // not the last: base64 may ignore its low bits
				b := []byte(state)
				b[i] ^= 0x01
				if _, err := rp.Decode(string(b)); err == nil {
					t.Fatalf("state %q with byte %d flipped opened", state, i)
				}
			}
		} else if !errors.Is(err, ErrState) {
			t.Fatalf("Decode(%q): %v, not ErrState", state, err)
		}
		// Round trip: whatever the caller seals opens unchanged.
		authURL, err := rp.Start(httptest.NewRecorder(), redirectURI, map[string]string{"rd": rd}, nil)
		if err != nil {
			return // over-long data is refused at Start
		}
		u, _ := url.Parse(authURL)
		fl, err := rp.Decode(u.Query().Get("state"))
		if err != nil {
			t.Fatalf("own state for %q: %v", rd, err)
		}
		var got map[string]string
		if err := fl.App(&got); err != nil || (utf8.ValidString(rd) && got["rd"] != rd) {
			t.Fatalf("round trip of %q: %q %v", rd, got["rd"], err)
		}
	})
}

// FuzzCallback: a callback's whole query is untrusted. Whatever it
// holds, with or without a genuine binding cookie, it is refused with
// one of the documented reasons (the fuzzer does not hold a code), and
// nothing panics.
func FuzzCallback(f *testing.F) {
	p := newProvider(f)
	rp := newRP(f, p.config())
	q, c := start(f, rp, p, nil)
	f.Add(q.Encode())
	q.Set("iss", "x")
	f.Add(q.Encode())
	f.Add("state=&code=&iss=&error=")
	f.Add("state=a&state=b&code=c")
	f.Add("%zz")
	known := []error{ErrState, ErrBinding, ErrIssuer, ErrProvider, ErrNoCode, ErrRefused}
	f.Fuzz(func(t *testing.T, raw string) {
		vals, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if code := vals.Get("code"); code != "" {
			p.mu.Lock()
			_, issued := p.codes[code]
			p.mu.Unlock()
			if issued {
				return // a real code: not the fuzzer's to guess
			}
		}
		r := httptest.NewRequest("GET", "/cb", nil)
		r.URL.RawQuery = raw
		r.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		_, res, err := rp.Callback(httptest.NewRecorder(), r)
		if err == nil || res != nil {
			t.Fatalf("callback %q completed", raw)
		}
		for _, k := range known {
			if errors.Is(err, k) {
				return
			}
		}
		t.Fatalf("callback %q: undocumented error %v", raw, err)
	})
}
