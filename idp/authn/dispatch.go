package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/csrf"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/idp/internal/form"
	"github.com/gatehouse-sso/gatehouse/redirect"
	"github.com/gatehouse-sso/gatehouse/session"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/web"
)

// Users is what the dispatcher needs of the user directory: the user a
// method identified must exist and be enabled.
type Users interface {
	ByID(ctx context.Context, id string) (identity.User, error)
}

// Options are the dispatcher's dependencies and settings.
type Options struct {
	// Methods are the sign-in methods and factors, in the order their
	// buttons are shown. The first Password method serves the password
	// form.
	Methods   []Method
	Users     Users
	Sessions  *session.Manager
	Store     store.Store
	CSRF      *csrf.Protector
	Redirects *redirect.Validator
	Pages     *web.Renderer
	Log       *slog.Logger
	// MaxBodyBytes caps form bodies.
	MaxBodyBytes int64
	// PublicURL is Gatehouse's own origin; callback URLs are built on it.
	PublicURL string
	// Home is where a sign-in without a return target ends ("/").
	Home string
	// Secure sets the Secure flag (and the __Host- prefix) on the
	// browser-binding cookie.
	Secure bool
	// ClientIP returns the client's address for the failed sign-in log
	// (through trusted proxies); the peer address when nil.
	ClientIP func(*http.Request) string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Dispatcher serves the sign-in pages and moves each transaction on.
type Dispatcher struct {
	o         Options
	log       *slog.Logger
	password  Password
	redirects map[string]Redirect
	buttons   []Redirect
	factors   []Factor
	txns      *txns
	form      form.Reader
}

// Paths of the sign-in pages.
const (
	PathLogin  = "/login"
	pathFactor = "/login/factor"
)

// Limits on what a sign-in form may carry.
const (
	maxLoginLen       = 256
	maxPasswordLen    = 1024
	maxAnswerLen      = 1024
	maxFactorFailures = 5
)

// genericLoginError is shown for every failed sign-in, so the page never
// tells whether an account exists, is disabled or has another password.
const genericLoginError = "Incorrect username or password."

var methodNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// New checks the methods and returns the dispatcher.
func New(o Options) (*Dispatcher, error) {
	if o.Users == nil || o.Sessions == nil || o.Store == nil || o.CSRF == nil || o.Redirects == nil || o.Pages == nil {
		return nil, errors.New("authn: Users, Sessions, Store, CSRF, Redirects and Pages are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Home == "" {
		o.Home = "/"
	}
	if o.ClientIP == nil {
		o.ClientIP = peerIP
	}
	d := &Dispatcher{o: o, log: o.Log, redirects: map[string]Redirect{}}
	seen := map[string]bool{}
	for _, m := range o.Methods {
		name := m.Name()
		if !methodNameRE.MatchString(name) || name == "factor" {
			return nil, fmt.Errorf("authn: method name %q: want 1-32 of a-z, 0-9 and '-', not \"factor\"", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("authn: method %q registered twice", name)
		}
		seen[name] = true
		matched := false
		if p, ok := m.(Password); ok {
			matched = true
			if d.password == nil {
				d.password = p
			}
		}
		if r, ok := m.(Redirect); ok {
			matched = true
			d.redirects[name] = r
			d.buttons = append(d.buttons, r)
		}
		if f, ok := m.(Factor); ok {
			matched = true
			d.factors = append(d.factors, f)
		}
		if !matched {
			return nil, fmt.Errorf("authn: method %q is neither a password, a redirect nor a factor method", name)
		}
	}
	d.txns = &txns{st: o.Store, now: o.Now, cookie: CookieName(o.Secure), secure: o.Secure}
	d.form = form.Reader{Pages: o.Pages, CSRF: o.CSRF, Log: o.Log, MaxBytes: o.MaxBodyBytes}
	return d, nil
}

// CookieName is the name of the cookie that binds stored transactions to
// the browser (host-only; "__Host-" prefixed when secure).
func CookieName(secure bool) string {
	if secure {
		return "__Host-gatehouse_signin"
	}
	return "gatehouse_signin"
}

// Mount registers the sign-in pages on mux.
func (d *Dispatcher) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathLogin, d.showLogin)
	mux.HandleFunc("POST "+PathLogin, d.submitPassword)
	mux.HandleFunc("GET "+pathFactor, d.showFactor)
	mux.HandleFunc("POST "+pathFactor, d.submitFactor)
	mux.HandleFunc("GET "+PathLogin+"/{method}", d.startRedirect)
	mux.HandleFunc("GET "+PathLogin+"/{method}/callback", d.callback)
}

// begin reads a new transaction's entry parameters: rd (the return
// target), force=1 (sign in even with a session), login_hint, acr (the
// acr_values asked for) and prompt=none.
func (d *Dispatcher) begin(ctx context.Context, v url.Values) Txn {
	t := Txn{Created: d.o.Now(), Return: d.returnTo(ctx, v.Get("rd")), Force: v.Get("force") == "1",
		NoPrompt: v.Get("prompt") == "none", RequireACR: RequiredACR(strings.Fields(v.Get("acr")))}
	if hint := strings.TrimSpace(v.Get("login_hint")); len(hint) <= maxLoginLen {
		t.LoginHint = hint
	}
	return t
}

// entryFields carry an in-memory transaction through the password form.
func entryFields(t Txn) []web.Field {
	f := []web.Field{{Name: "rd", Value: t.Return}}
	if t.RequireACR != "" {
		f = append(f, web.Field{Name: "acr", Value: t.RequireACR})
	}
	return f
}

// entryQuery carries an in-memory transaction to a redirect method's
// start.
func entryQuery(t Txn) string {
	q := url.Values{"rd": {t.Return}}
	if t.Force {
		q.Set("force", "1")
	}
	if t.RequireACR != "" {
		q.Set("acr", t.RequireACR)
	}
	if t.LoginHint != "" {
		q.Set("login_hint", t.LoginHint)
	}
	return q.Encode()
}

// returnTo validates a client-supplied target, falling back to Home.
func (d *Dispatcher) returnTo(ctx context.Context, raw string) string {
	if raw == "" {
		return d.o.Home
	}
	target, err := d.o.Redirects.Check(raw)
	if err != nil {
		d.log.InfoContext(ctx, "return-to target refused", "reason", err.Error())
		return d.o.Home
	}
	return target
}

// current returns the browser's session and live user; ok is false when
// signed out (or the user was removed or disabled), err a store failure.
func (d *Dispatcher) current(ctx context.Context, r *http.Request) (session.Record, bool, error) {
	rec, err := d.o.Sessions.Load(ctx, r)
	if errors.Is(err, session.ErrNoSession) {
		return session.Record{}, false, nil
	}
	if err != nil {
		return session.Record{}, false, err
	}
	_, ok, err := d.liveUser(ctx, rec.UserID)
	return rec, ok, err
}

func (d *Dispatcher) liveUser(ctx context.Context, id string) (identity.User, bool, error) {
	u, err := d.o.Users.ByID(ctx, id)
	if errors.Is(err, identity.ErrNotFound) {
		return identity.User{}, false, nil
	}
	if err != nil {
		return identity.User{}, false, err
	}
	return u, !u.Disabled, nil
}

// showLogin is the first step: a signed-in browser goes on (or, when
// the transaction asks for more than its session proved, adds a factor
// to that session); otherwise the user chooses a method.
func (d *Dispatcher) showLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t := d.begin(ctx, r.URL.Query())
	rec, ok, err := d.current(ctx, r)
	if err != nil {
		d.unavailable(w, r, "load session", err)
		return
	}
	if ok && !t.Force {
		if Satisfies(ACR(rec.AMR), t.RequireACR) {
			http.Redirect(w, r, t.Return, http.StatusSeeOther)
			return
		}
		t.StepUpSID, t.UserID, t.AMR = rec.SID, rec.UserID, slices.Clone(rec.AMR)
		d.next(w, r, t)
		return
	}
	if t.NoPrompt {
		d.refuseInteraction(w, r)
		return
	}
	d.renderLogin(w, r, http.StatusOK, t, t.LoginHint, "")
}

func (d *Dispatcher) renderLogin(w http.ResponseWriter, r *http.Request, status int, t Txn, login, msg string) {
	page := &web.LoginPage{
		Frame:    web.Frame{Title: "Sign in", CSRF: d.o.CSRF.Token(w, r), FormTargets: formTargets(t.Return)},
		Action:   PathLogin,
		Fields:   entryFields(t),
		Login:    login,
		Error:    msg,
		Password: d.password != nil,
	}
	q := entryQuery(t)
	for _, m := range d.buttons {
		page.Methods = append(page.Methods, web.MethodLink{Label: m.Label(), URL: PathLogin + "/" + m.Name() + "?" + q})
	}
	d.o.Pages.Render(w, status, page)
}

// submitPassword checks the password form.
func (d *Dispatcher) submitPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if d.password == nil {
		d.o.Pages.Error(w, http.StatusNotFound, "Password sign-in is not available.")
		return
	}
	if !d.form.Read(w, r) {
		return
	}
	t := d.begin(ctx, r.PostForm)
	login := strings.TrimSpace(r.PostFormValue("username"))
	password := r.PostFormValue("password")
	method := d.password.Name()
	if login == "" || password == "" || len(login) > maxLoginLen || len(password) > maxPasswordLen {
		d.failed(r, method, login, "missing or oversized field")
		d.renderLogin(w, r, http.StatusUnauthorized, t, login, genericLoginError)
		return
	}
	id, err := d.password.Login(ctx, login, password)
	switch {
	case errors.Is(err, ErrRejected):
		d.failed(r, method, login, reason(err))
		d.renderLogin(w, r, http.StatusUnauthorized, t, login, genericLoginError)
		return
	case ctx.Err() != nil:
		return // the client went away while waiting for a hashing slot
	case errors.Is(err, identity.ErrBusy):
		// More sign-ins are waiting than the hashing limit admits: refuse
		// at once rather than hold memory, and say when to come back.
		d.log.WarnContext(ctx, "sign-in refused: too many password checks waiting", "err", err)
		w.Header().Set("Retry-After", busyRetryAfter)
		d.o.Pages.Error(w, http.StatusServiceUnavailable, "Too many sign-ins at once. Please try again in a few seconds.")
		return
	case err != nil:
		d.unavailable(w, r, "authenticate", err)
		return
	}
	d.identified(w, r, t, method, login, id)
}

// redirectMethod finds the redirect method the path names, or answers
// 404.
func (d *Dispatcher) redirectMethod(w http.ResponseWriter, r *http.Request) (string, Redirect, bool) {
	name := r.PathValue("method")
	m, ok := d.redirects[name]
	if !ok {
		d.o.Pages.Error(w, http.StatusNotFound, "There is no such sign-in method.")
	}
	return name, m, ok
}

// startRedirect begins a sign-in with a redirect method.
func (d *Dispatcher) startRedirect(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, m, ok := d.redirectMethod(w, r)
	if !ok {
		return
	}
	t := d.begin(ctx, r.URL.Query())
	if t.NoPrompt {
		d.refuseInteraction(w, r)
		return
	}
	t.ID = randomString()
	target, state, err := m.Start(ctx, RedirectStart{
		CallbackURL: strings.TrimSuffix(d.o.PublicURL, "/") + PathLogin + "/" + name + "/callback",
		State:       t.ID, LoginHint: t.LoginHint,
	})
	if err != nil {
		d.unavailable(w, r, "start sign-in with "+name, err)
		return
	}
	t.Step, t.Method, t.State = stepRedirect, name, map[string][]byte{name: state}
	if err := d.txns.save(ctx, w, r, &t); err != nil {
		d.unavailable(w, r, "start sign-in", err)
		return
	}
	noStore(w)
	http.Redirect(w, r, target, http.StatusFound)
}

// callback finishes a redirect method's step.
func (d *Dispatcher) callback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	name, m, ok := d.redirectMethod(w, r)
	if !ok {
		return
	}
	t, err := d.txns.load(ctx, r, r.URL.Query().Get("state"), stepRedirect)
	if err == nil && t.Method != name {
		err = errNoTxn
	}
	if errors.Is(err, errNoTxn) {
		d.expired(w, r)
		return
	}
	if err != nil {
		d.unavailable(w, r, "callback", err)
		return
	}
	id, err := m.Callback(ctx, r, t.State[name])
	if errors.Is(err, ErrRejected) {
		d.failed(r, name, "", reason(err))
		d.txns.drop(ctx, t)
		d.o.Pages.Error(w, http.StatusUnauthorized, "Sign-in with "+m.Label()+" did not succeed. Go back and try again.")
		return
	}
	if err != nil {
		d.unavailable(w, r, "callback of "+name, err)
		return
	}
	t.Step, t.Method = "", ""
	delete(t.State, name)
	d.identified(w, r, t, name, "", id)
}

// identified moves a transaction on once a method proved who the user is.
// login is the login name tried, for the log of a refused sign-in.
func (d *Dispatcher) identified(w http.ResponseWriter, r *http.Request, t Txn, method, login string, id Identity) {
	ctx := r.Context()
	u, ok, err := d.liveUser(ctx, id.UserID)
	if err != nil {
		d.unavailable(w, r, "load user", err)
		return
	}
	if !ok {
		d.failed(r, method, login, "user unknown or disabled")
		d.txns.drop(ctx, t)
		if t.ID == "" {
			d.renderLogin(w, r, http.StatusUnauthorized, t, login, genericLoginError)
		} else {
			d.o.Pages.Error(w, http.StatusUnauthorized, "This account cannot sign in.")
		}
		return
	}
	// A new identification starts a new session, whatever the browser
	// had before.
	t.StepUpSID, t.UserID, t.AMR = "", u.ID, nil
	t.addAMR(id.AMR...)
	d.next(w, r, t)
}

// next decides what a transaction with an identified user still needs: a
// factor page when its acr requirement is not met and a factor can meet
// it, otherwise completion. acr_values are voluntary (OpenID Connect Core
// 3.1.2.1): with no factor available the sign-in completes with the acr
// achieved.
func (d *Dispatcher) next(w http.ResponseWriter, r *http.Request, t Txn) {
	ctx := r.Context()
	if t.needsFactor() {
		f, err := d.factorFor(ctx, t)
		if err != nil {
			d.unavailable(w, r, "find second factor", err)
			return
		}
		if f != nil {
			if t.NoPrompt {
				d.refuseInteraction(w, r)
				return
			}
			d.challenge(w, r, t, f)
			return
		}
		d.log.InfoContext(ctx, "sign-in: no second factor available, continuing with the acr achieved",
			"user_id", t.UserID, "acr_required", t.RequireACR, "acr", ACR(t.AMR))
		if t.StepUpSID != "" {
			// Nothing to add to the session.
			d.txns.drop(ctx, t)
			noStore(w)
			http.Redirect(w, r, t.Return, http.StatusSeeOther)
			return
		}
	}
	d.done(w, r, t)
}

// factorFor returns the first factor the user can use that the
// transaction has not used yet, or nil.
func (d *Dispatcher) factorFor(ctx context.Context, t Txn) (Factor, error) {
	for _, f := range d.factors {
		if slices.Contains(t.Used, f.Name()) {
			continue
		}
		ok, err := f.Available(ctx, t.UserID)
		if err != nil {
			return nil, fmt.Errorf("factor %s: %w", f.Name(), err)
		}
		if ok {
			return f, nil
		}
	}
	return nil, nil
}

// challenge stores the transaction at the factor step and sends the
// browser to the factor page.
func (d *Dispatcher) challenge(w http.ResponseWriter, r *http.Request, t Txn, f Factor) {
	ctx := r.Context()
	ch, err := f.Challenge(ctx, t.UserID)
	if err != nil {
		d.unavailable(w, r, "challenge "+f.Name(), err)
		return
	}
	if t.State == nil {
		t.State = map[string][]byte{}
	}
	t.Step, t.Method, t.Failures = stepFactor, f.Name(), 0
	t.State[f.Name()] = ch.State
	t.Ask = &ask{Heading: ch.Heading, Prompt: ch.Prompt, Label: ch.Label, Autocomplete: ch.Autocomplete}
	if err := d.txns.save(ctx, w, r, &t); err != nil {
		d.unavailable(w, r, "store sign-in", err)
		return
	}
	noStore(w)
	http.Redirect(w, r, pathFactor+"?txn="+t.ID, http.StatusSeeOther)
}

func (d *Dispatcher) showFactor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	t, err := d.txns.load(ctx, r, r.URL.Query().Get("txn"), stepFactor)
	if errors.Is(err, errNoTxn) {
		d.expired(w, r)
		return
	}
	if err != nil {
		d.unavailable(w, r, "load sign-in", err)
		return
	}
	d.renderFactor(w, r, http.StatusOK, t, "")
}

func (d *Dispatcher) renderFactor(w http.ResponseWriter, r *http.Request, status int, t Txn, msg string) {
	a := ask{Heading: "Second factor", Label: "Code"}
	if t.Ask != nil {
		a = *t.Ask
	}
	d.o.Pages.Render(w, status, &web.FactorPage{
		Frame:   web.Frame{Title: a.Heading, CSRF: d.o.CSRF.Token(w, r), FormTargets: formTargets(t.Return)},
		Action:  pathFactor,
		Fields:  []web.Field{{Name: "txn", Value: t.ID}},
		Heading: a.Heading, Prompt: a.Prompt, Label: a.Label, Autocomplete: a.Autocomplete,
		Error: msg,
	})
}

func (d *Dispatcher) submitFactor(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !d.form.Read(w, r) {
		return
	}
	t, err := d.txns.load(ctx, r, r.PostFormValue("txn"), stepFactor)
	if errors.Is(err, errNoTxn) {
		d.expired(w, r)
		return
	}
	if err != nil {
		d.unavailable(w, r, "load sign-in", err)
		return
	}
	var f Factor
	for _, x := range d.factors {
		if x.Name() == t.Method {
			f = x
		}
	}
	if f == nil {
		d.expired(w, r)
		return
	}
	answer := strings.TrimSpace(r.PostFormValue("answer"))
	var amr []string
	if answer == "" || len(answer) > maxAnswerLen {
		err = fmt.Errorf("%w: missing or oversized answer", ErrRejected)
	} else {
		amr, err = f.Verify(ctx, t.UserID, t.State[f.Name()], answer)
	}
	if errors.Is(err, ErrRejected) {
		login := t.UserID
		if u, ok, uerr := d.liveUser(ctx, t.UserID); uerr == nil && ok {
			login = u.Username
		}
		d.failed(r, f.Name(), login, reason(err))
		t.Failures++
		if t.Failures >= maxFactorFailures {
			d.txns.drop(ctx, t)
			d.o.Pages.Error(w, http.StatusUnauthorized, "Too many wrong answers. Go back to the application and sign in again.")
			return
		}
		if err := d.txns.save(ctx, w, r, &t); err != nil {
			d.unavailable(w, r, "store sign-in", err)
			return
		}
		d.renderFactor(w, r, http.StatusUnauthorized, t, "That was not right. Try again.")
		return
	}
	if err != nil {
		d.unavailable(w, r, "verify "+f.Name(), err)
		return
	}
	t.addAMR(amr...)
	t.Step, t.Method, t.Ask = "", "", nil
	delete(t.State, f.Name())
	t.Used = append(t.Used, f.Name())
	d.next(w, r, t)
}

// done completes a transaction: the stored record is taken (so it
// completes once), then a session is started, or the browser's session
// is stepped up, and the browser goes to the return target.
func (d *Dispatcher) done(w http.ResponseWriter, r *http.Request, t Txn) {
	ctx := r.Context()
	if err := d.txns.take(ctx, t); errors.Is(err, errNoTxn) {
		d.expired(w, r)
		return
	} else if err != nil {
		d.unavailable(w, r, "complete sign-in", err)
		return
	}
	amr := strings.Join(t.AMR, " ")
	if t.StepUpSID != "" {
		_, err := d.o.Sessions.StepUp(ctx, r, t.StepUpSID, t.UserID, t.AMR)
		if errors.Is(err, session.ErrSessionChanged) {
			d.o.Pages.Error(w, http.StatusConflict, "Your session changed while you were signing in. Go back to the application and try again.")
			return
		}
		if err != nil {
			d.unavailable(w, r, "step up session", err)
			return
		}
		d.log.InfoContext(ctx, "session stepped up", "user_id", t.UserID, "amr", amr)
	} else {
		if _, err := d.o.Sessions.Start(ctx, w, r, t.UserID, t.AMR); err != nil {
			d.unavailable(w, r, "start session", err)
			return
		}
		d.log.InfoContext(ctx, "login succeeded", "user_id", t.UserID, "amr", amr)
	}
	noStore(w)
	http.Redirect(w, r, t.Return, http.StatusSeeOther)
}

// failed logs a refused sign-in in the documented shape that fail2ban and
// CrowdSec match: message "sign-in failed", then client_ip, method, login
// (the login name tried, empty when the method has none) and reason.
func (d *Dispatcher) failed(r *http.Request, method, login, why string) {
	d.log.WarnContext(r.Context(), "sign-in failed", "client_ip", d.o.ClientIP(r), "method", method, "login", login, "reason", why)
}

// reason is the text after ErrRejected.
func reason(err error) string {
	s := err.Error()
	if i := strings.Index(s, ErrRejected.Error()+": "); i >= 0 {
		return s[i+len(ErrRejected.Error())+2:]
	}
	return s
}

func (d *Dispatcher) refuseInteraction(w http.ResponseWriter, r *http.Request) {
	d.log.InfoContext(r.Context(), "sign-in refused: interaction required under prompt=none")
	d.o.Pages.Error(w, http.StatusBadRequest, "This sign-in needs you to interact, but the application asked for none (prompt=none).")
}

func (d *Dispatcher) expired(w http.ResponseWriter, r *http.Request) {
	d.log.InfoContext(r.Context(), "sign-in transaction unknown, expired or of another browser")
	d.o.Pages.Error(w, http.StatusBadRequest, "This sign-in has expired or was already completed. Go back to the application and sign in again.")
}

// busyRetryAfter is the Retry-After, in seconds, of a sign-in refused
// because too many password checks are waiting.
const busyRetryAfter = "5"

func (d *Dispatcher) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	d.log.ErrorContext(r.Context(), what, "err", err)
	d.o.Pages.Error(w, http.StatusServiceUnavailable, "Sign-in is temporarily unavailable. Please try again in a moment.")
}

func noStore(w http.ResponseWriter) { w.Header().Set("Cache-Control", "no-store") }

// peerIP is the connection's peer address.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// formTargets allows a form to end on the validated return target when it
// is on another origin: browsers apply the CSP form-action directive to
// the redirect that follows a form POST.
func formTargets(rd string) []string {
	if rd == "" || strings.HasPrefix(rd, "/") {
		return nil
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}
