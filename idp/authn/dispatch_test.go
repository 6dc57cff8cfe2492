package authn_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/authn/authntest"
	"github.com/gatehouse-sso/gatehouse/idp/authn/password"
)

// codeFactor is a test factor: the answer is "424242", its challenge
// state must come back unchanged, and it proves "otp".
type codeFactor struct {
	mu         sync.Mutex
	available  bool
	challenges int
}

func (*codeFactor) Name() string { return "code" }
func (f *codeFactor) Available(context.Context, string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.available, nil
}
func (f *codeFactor) Challenge(_ context.Context, userID string) (authn.Challenge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.challenges++
	return authn.Challenge{Heading: "Enter your code", Prompt: "Type the test code.", Label: "Code",
		Autocomplete: "one-time-code", State: []byte("for " + userID)}, nil
}
func (f *codeFactor) Verify(_ context.Context, userID string, state []byte, answer string) ([]string, error) {
	if string(state) != "for "+userID {
		return nil, fmt.Errorf("state lost: %q", state)
	}
	if answer != "424242" {
		return nil, fmt.Errorf("%w: wrong code", authn.ErrRejected)
	}
	return []string{"otp"}, nil
}

func newEnv(t *testing.T, f *codeFactor) *authntest.Env {
	return authntest.New(t, func(u *authntest.Users) []authn.Method {
		methods := []authn.Method{password.New(u)}
		if f != nil {
			methods = append(methods, f)
		}
		return methods
	}, nil)
}

var txnRE = regexp.MustCompile(`/login/factor\?txn=([A-Za-z0-9_-]{43})$`)

// signInWithPassword submits the sign-in page at loginPath.
func signInWithPassword(e *authntest.Env, b *http.Client, loginPath, pw string) authntest.Response {
	e.T.Helper()
	page := e.Get(b, loginPath)
	if page.Status != http.StatusOK {
		e.T.Fatalf("GET %s: %d %s", loginPath, page.Status, page.Location)
	}
	return e.Submit(b, page.Body, url.Values{"username": {authntest.Username}, "password": {pw}})
}

func TestPassword_SignsIn(t *testing.T) {
	e := newEnv(t, nil)
	b := e.Browser()
	res := signInWithPassword(e, b, "/login?rd=%2Fafter%3Fx%3D1", authntest.Password)
	if res.Status != http.StatusSeeOther || res.Location != "/after?x=1" {
		t.Fatalf("sign-in: %d %q", res.Status, res.Location)
	}
	rec, ok := e.Session(b)
	if !ok || rec.UserID != authntest.UserID || !slices.Equal(rec.AMR, []string{"pwd"}) {
		t.Fatalf("session %+v %v", rec, ok)
	}
	// Signed in: the sign-in page forwards to the target.
	if res := e.Get(b, "/login?rd=%2Fagain"); res.Status != http.StatusSeeOther || res.Location != "/again" {
		t.Fatalf("signed in: %d %q", res.Status, res.Location)
	}
	// force=1 shows the form anyway.
	if res := e.Get(b, "/login?rd=%2Fagain&force=1"); res.Status != http.StatusOK || !strings.Contains(res.Body, `name="password"`) {
		t.Fatalf("force: %d", res.Status)
	}
}

func TestPassword_Refused(t *testing.T) {
	e := newEnv(t, nil)
	b := e.Browser()
	res := signInWithPassword(e, b, "/login?rd=%2Fafter", "wrong")
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "Incorrect username or password.") ||
		!strings.Contains(res.Body, `name="rd" value="/after"`) {
		t.Fatalf("wrong password: %d %s", res.Status, res.Body)
	}
	if _, ok := e.Session(b); ok {
		t.Fatal("signed in with a wrong password")
	}
	e.Users.SetDisabled(true)
	if res := signInWithPassword(e, b, "/login", authntest.Password); res.Status != http.StatusUnauthorized {
		t.Fatalf("disabled user: %d", res.Status)
	}
	if !strings.Contains(e.Logs.String(), `"reason":"user disabled"`) {
		t.Fatalf("disabled sign-in not logged: %s", e.Logs.String())
	}
}

// factorStep signs in with the password at loginPath and returns the
// factor page's transaction id.
func factorStep(t *testing.T, e *authntest.Env, b *http.Client, loginPath string) (string, authntest.Response) {
	t.Helper()
	res := signInWithPassword(e, b, loginPath, authntest.Password)
	m := txnRE.FindStringSubmatch(res.Location)
	if res.Status != http.StatusSeeOther || m == nil {
		t.Fatalf("no factor step: %d %q", res.Status, res.Location)
	}
	page := e.Get(b, res.Location)
	if page.Status != http.StatusOK || !strings.Contains(page.Body, "Enter your code") || !strings.Contains(page.Body, `autocomplete="one-time-code"`) {
		t.Fatalf("factor page: %d %s", page.Status, page.Body)
	}
	return m[1], page
}

func TestFactor_RequiredByACR(t *testing.T) {
	f := &codeFactor{available: true}
	e := newEnv(t, f)
	b := e.Browser()

	// Without an acr requirement the password suffices.
	if res := signInWithPassword(e, b, "/login?rd=%2Fa", authntest.Password); res.Status != http.StatusSeeOther || res.Location != "/a" {
		t.Fatalf("acr 1: %d %q", res.Status, res.Location)
	}
	b = e.Browser()
	id, page := factorStep(t, e, b, "/login?rd=%2Fb&acr=2")
	if _, ok := e.Session(b); ok {
		t.Fatal("session started before the factor")
	}

	// The factor page belongs to this browser and this step only.
	other := e.Browser()
	if res := e.Get(other, "/login/factor?txn="+id); res.Status != http.StatusBadRequest {
		t.Fatalf("factor page in another browser: %d", res.Status)
	}
	if res := e.Get(b, "/login/example/callback?state="+id); res.Status != http.StatusNotFound {
		t.Fatalf("callback of an unknown method: %d", res.Status)
	}

	// A wrong answer: the page again, logged.
	res := e.Submit(b, page.Body, url.Values{"answer": {"000000"}})
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "That was not right") {
		t.Fatalf("wrong code: %d %s", res.Status, res.Body)
	}
	if !strings.Contains(e.Logs.String(), `"msg":"sign-in failed","client_ip":"127.0.0.1","method":"code","login":"alice","reason":"wrong code"`) {
		t.Fatalf("wrong code not logged: %s", e.Logs.String())
	}
	res = e.Submit(b, res.Body, url.Values{"answer": {"424242"}})
	if res.Status != http.StatusSeeOther || res.Location != "/b" {
		t.Fatalf("right code: %d %q %s", res.Status, res.Location, res.Body)
	}
	rec, ok := e.Session(b)
	if !ok || !slices.Equal(rec.AMR, []string{"pwd", "otp"}) || authn.ACR(rec.AMR) != authn.ACRMultiFactor {
		t.Fatalf("session after the factor: %+v", rec)
	}
	// The transaction completed: answering again finds nothing.
	if res := e.Submit(b, page.Body, url.Values{"answer": {"424242"}}); res.Status != http.StatusBadRequest {
		t.Fatalf("replayed answer: %d", res.Status)
	}
}

func TestFactor_TooManyWrongAnswers(t *testing.T) {
	e := newEnv(t, &codeFactor{available: true})
	b := e.Browser()
	_, page := factorStep(t, e, b, "/login?acr=2")
	var res authntest.Response
	for range 5 {
		res = e.Submit(b, page.Body, url.Values{"answer": {"1"}})
	}
	if res.Status != http.StatusUnauthorized || !strings.Contains(res.Body, "Too many wrong answers") {
		t.Fatalf("fifth wrong answer: %d %s", res.Status, res.Body)
	}
	if res := e.Submit(b, page.Body, url.Values{"answer": {"424242"}}); res.Status != http.StatusBadRequest {
		t.Fatalf("right answer after the limit: %d", res.Status)
	}
	if _, ok := e.Session(b); ok {
		t.Fatal("signed in after too many wrong answers")
	}
}

// TestFactor_StepUp: a signed-in browser asked for acr 2 answers only the
// factor; its session keeps its id and gains the factor's amr.
func TestFactor_StepUp(t *testing.T) {
	e := newEnv(t, &codeFactor{available: true})
	b := e.Browser()
	if res := signInWithPassword(e, b, "/login", authntest.Password); res.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", res.Status)
	}
	before, _ := e.Session(b)
	res := e.Get(b, "/login?rd=%2Fadmin&acr=2")
	if res.Status != http.StatusSeeOther || !txnRE.MatchString(res.Location) {
		t.Fatalf("step-up: %d %q", res.Status, res.Location)
	}
	page := e.Get(b, res.Location)
	res = e.Submit(b, page.Body, url.Values{"answer": {"424242"}})
	if res.Status != http.StatusSeeOther || res.Location != "/admin" {
		t.Fatalf("step-up answer: %d %q", res.Status, res.Location)
	}
	after, ok := e.Session(b)
	if !ok || after.SID != before.SID || !slices.Equal(after.AMR, []string{"pwd", "otp"}) {
		t.Fatalf("after step-up %+v, before %+v", after, before)
	}
	// Now acr 2 is met: straight through.
	if res := e.Get(b, "/login?rd=%2Fadmin&acr=2"); res.Status != http.StatusSeeOther || res.Location != "/admin" {
		t.Fatalf("acr 2 met: %d %q", res.Status, res.Location)
	}
}

// TestFactor_NoneAvailable: acr_values are voluntary; without a factor
// the user can use, the sign-in completes with what was achieved.
func TestFactor_NoneAvailable(t *testing.T) {
	f := &codeFactor{available: false}
	e := newEnv(t, f)
	b := e.Browser()
	if res := signInWithPassword(e, b, "/login?rd=%2Fa&acr=2", authntest.Password); res.Status != http.StatusSeeOther || res.Location != "/a" {
		t.Fatalf("sign-in: %d %q", res.Status, res.Location)
	}
	if rec, _ := e.Session(b); authn.ACR(rec.AMR) != authn.ACRSingleFactor {
		t.Fatalf("amr %v", rec.AMR)
	}
	// A signed-in browser asking for more goes on unchanged.
	if res := e.Get(b, "/login?rd=%2Fb&acr=2"); res.Status != http.StatusSeeOther || res.Location != "/b" {
		t.Fatalf("step-up without a factor: %d %q", res.Status, res.Location)
	}
	if f.challenges != 0 {
		t.Fatal("a factor that is not available was challenged")
	}
}

// TestPromptNone: no user-facing step is shown under prompt=none.
func TestPromptNone(t *testing.T) {
	e := newEnv(t, &codeFactor{available: true})
	b := e.Browser()
	if res := e.Get(b, "/login?prompt=none"); res.Status != http.StatusBadRequest || !strings.Contains(res.Body, "prompt=none") {
		t.Fatalf("sign-in page under prompt=none: %d", res.Status)
	}
	signInWithPassword(e, b, "/login", authntest.Password)
	if res := e.Get(b, "/login?prompt=none&acr=2&rd=%2Fa"); res.Status != http.StatusBadRequest {
		t.Fatalf("factor page under prompt=none: %d %q", res.Status, res.Location)
	}
	// Nothing to show: prompt=none goes through.
	if res := e.Get(b, "/login?prompt=none&rd=%2Fa"); res.Status != http.StatusSeeOther || res.Location != "/a" {
		t.Fatalf("prompt=none signed in: %d %q", res.Status, res.Location)
	}
}

func TestACR(t *testing.T) {
	for _, tc := range []struct {
		amr  []string
		want string
	}{
		{nil, "1"}, {[]string{"pwd"}, "1"}, {[]string{"otp"}, "1"}, {[]string{"pwd", "otp"}, "2"}, {[]string{"mfa"}, "2"}, {[]string{"hwk", "pin"}, "2"},
	} {
		if got := authn.ACR(tc.amr); got != tc.want {
			t.Errorf("ACR(%v) = %q, want %q", tc.amr, got, tc.want)
		}
	}
	for _, tc := range []struct {
		values []string
		want   string
	}{
		{nil, ""}, {[]string{"urn:unknown"}, ""}, {[]string{"2"}, "2"}, {[]string{"2", "1"}, "1"}, {[]string{"x", "2"}, "2"},
	} {
		if got := authn.RequiredACR(tc.values); got != tc.want {
			t.Errorf("RequiredACR(%v) = %q, want %q", tc.values, got, tc.want)
		}
	}
	for _, tc := range []struct {
		achieved, required string
		ok                 bool
	}{
		{"1", "", true}, {"1", "1", true}, {"1", "2", false}, {"2", "1", true}, {"2", "2", true}, {"", "1", false},
	} {
		if got := authn.Satisfies(tc.achieved, tc.required); got != tc.ok {
			t.Errorf("Satisfies(%q, %q) = %v", tc.achieved, tc.required, got)
		}
	}
}

func TestNew_RefusesBadMethods(t *testing.T) {
	for name, methods := range map[string]func(u *authntest.Users) []authn.Method{
		"twice":    func(u *authntest.Users) []authn.Method { return []authn.Method{password.New(u), password.New(u)} },
		"reserved": func(*authntest.Users) []authn.Method { return []authn.Method{named("factor")} },
		"bad name": func(*authntest.Users) []authn.Method { return []authn.Method{named("Bad Name")} },
	} {
		func() {
			defer func() { _ = recover() }()
			ft := &fatalT{TB: t}
			authntest.New(ft, methods, nil)
			if !ft.failed {
				t.Errorf("%s: accepted", name)
			}
		}()
	}
}

// named is a password method with any name.
type named string

func (n named) Name() string { return string(n) }
func (named) Login(context.Context, string, string) (authn.Identity, error) {
	return authn.Identity{}, authn.ErrRejected
}

// fatalT records Fatal instead of stopping the test.
type fatalT struct {
	testing.TB
	failed bool
}

func (f *fatalT) Fatal(...any) { f.failed = true; panic("fatal") }

// busyUsers answers every password check as the hasher does when its
// waiting room is full.
type busyUsers struct{}

func (busyUsers) Authenticate(context.Context, string, string) (identity.User, error) {
	return identity.User{}, fmt.Errorf("check password: %w", identity.ErrBusy)
}

func TestPassword_BusyHasherAnswers503WithRetryAfter(t *testing.T) {
	e := authntest.New(t, func(*authntest.Users) []authn.Method {
		return []authn.Method{password.New(busyUsers{})}
	}, nil)
	b := e.Browser()
	res := signInWithPassword(e, b, "/login?rd=%2Fafter", authntest.Password)
	if res.Status != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "5" ||
		!strings.Contains(res.Body, "Too many sign-ins at once") {
		t.Fatalf("busy hasher: %d Retry-After=%q %s", res.Status, res.Header.Get("Retry-After"), res.Body)
	}
	if _, ok := e.Session(b); ok {
		t.Fatal("signed in while the hasher refused")
	}
}
