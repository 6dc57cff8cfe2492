package web

import "html/template"

// Frame is what every page shares: the layout's title, the form's CSRF
// token, the extra origins its form may submit to, and (filled in by
// Render) the branding and the inline-script nonce. Each page type embeds
// it.
type Frame struct {
	// Title is the document title.
	Title string
	// CSRF is the token for the page's form, if it has one.
	CSRF string
	// FormTargets are origins ("https://app.example.com") besides this
	// site that the page's form may submit to, directly or through the
	// redirect that answers it (browsers check CSP form-action against
	// redirects too). Values that are not plain origins are dropped.
	FormTargets []string
	// Brand is set by Render from the renderer's branding.
	Brand Brand
	// Nonce is set by Render for pages with an inline script.
	Nonce string
	// Assets is the path the stylesheet is served under ("/static/" when
	// empty). Pages on app hosts use the gateway's /.gatehouse/static/:
	// /static/ there belongs to the app.
	Assets string
}

func (f *Frame) frame() *Frame { return f }

// View is the data of one page: a page type of this package (a pointer to
// it), which names its template and embeds a Frame.
type View interface {
	template() string
	frame() *Frame
}

// LoginPage asks for a username and password, and offers the other
// sign-in methods.
type LoginPage struct {
	Frame
	// Action is the path the password form posts to.
	Action string
	// Fields are the form's hidden fields (the sign-in in progress).
	Fields []Field
	// Login is the username echoed back into the form.
	Login string
	// Error is a message shown above the form.
	Error string
	// Password tells whether the password form is shown.
	Password bool
	// Methods are the other ways to sign in (one button each).
	Methods []MethodLink
}

// MethodLink is a button that starts a sign-in method.
type MethodLink struct {
	// Label is the button's text ("Sign in with Example").
	Label string
	// URL starts the method; it is a path on this site.
	URL string
}

// FactorPage asks for a second factor (a code, a security key...).
type FactorPage struct {
	Frame
	// Action is the path the form posts to.
	Action string
	// Fields are the form's hidden fields (the sign-in in progress).
	Fields []Field
	// Heading and Prompt tell the user what to do.
	Heading string
	Prompt  string
	// Label names the input; Autocomplete is its autocomplete hint
	// ("one-time-code").
	Label        string
	Autocomplete string
	// Error is a message shown above the form.
	Error string
}

// LogoutPage asks a signed-in user to confirm a sign-out.
type LogoutPage struct {
	Frame
	// Return is the validated return-to target carried through the form.
	Return string
	// User is the signed-in user.
	User *UserView
}

// SignedOutPage tells the user they are signed out.
type SignedOutPage struct {
	Frame
}

// HomePage is the signed-in user's account page.
type HomePage struct {
	Frame
	// User is the signed-in user.
	User *UserView
	// DemoURL links to the demo upstream when the demo is on.
	DemoURL string
}

// ErrorPage shows an error with a readable message.
type ErrorPage struct {
	Frame
	// Status is the HTTP status; Message says what went wrong.
	Status  int
	Message string
}

// ConsentPage asks the user to let an OAuth client have some scopes.
type ConsentPage struct {
	Frame
	// Client is the display name of the client.
	Client string
	// User is the signed-in user.
	User *UserView
	// Scopes are the permissions asked for.
	Scopes []ScopeView
	// Pending identifies the authorization request the form answers.
	Pending string
	// Action is the path the form posts to.
	Action string
	// ConsentsURL is the page listing remembered consents.
	ConsentsURL string
}

// ConsentsPage lists the clients the user consented to, each revocable.
type ConsentsPage struct {
	Frame
	// Action is the path each Revoke form posts to.
	Action string
	// Consents lists the clients the user consented to.
	Consents []ConsentView
	// User is the signed-in user.
	User *UserView
}

// EndSessionPage asks the user to confirm a sign-out requested by a
// client that could not be identified.
type EndSessionPage struct {
	Frame
	// Client is the display name of the client, if known.
	Client string
	// User is the signed-in user.
	User *UserView
	// Action is the path the form posts to; Fields its hidden fields.
	Action string
	Fields []Field
}

// ContinuePage sends the browser on to Target (a meta refresh and a
// link), for redirects that must not follow a form submission.
type ContinuePage struct {
	Frame
	// Target must be a validated URL (a registered redirect URI): it is
	// trusted as a URL whatever its scheme.
	Target template.URL
	// Client is the display name of the client returned to.
	Client string
}

// FormPostPage posts Fields to Target from the browser (OAuth
// response_mode=form_post); its one inline script carries a nonce.
type FormPostPage struct {
	Frame
	// Target must be a validated URL (a registered redirect URI).
	Target template.URL
	Fields []Field
}

func (*LoginPage) template() string      { return "login" }
func (*FactorPage) template() string     { return "factor" }
func (*LogoutPage) template() string     { return "logout" }
func (*SignedOutPage) template() string  { return "signed_out" }
func (*HomePage) template() string       { return "home" }
func (*ErrorPage) template() string      { return "error" }
func (*ConsentPage) template() string    { return "consent" }
func (*ConsentsPage) template() string   { return "consents" }
func (*EndSessionPage) template() string { return "end_session" }
func (*ContinuePage) template() string   { return "continue" }
func (*FormPostPage) template() string   { return "form_post" }

// views returns one value of every page type: NewRenderer parses their
// templates, so a page type without a template fails at startup. A new
// page is a type above, its template() line and an entry here.
func views() []View {
	return []View{&LoginPage{}, &FactorPage{}, &LogoutPage{}, &SignedOutPage{}, &HomePage{},
		&ErrorPage{}, &ConsentPage{}, &ConsentsPage{}, &EndSessionPage{}, &ContinuePage{}, &FormPostPage{},
		&DeniedPage{}, &AppSignedOutPage{}}
}

// ScopeView is one permission shown on the consent page.
type ScopeView struct {
	Name        string
	Description string
}

// Field is a hidden form field.
type Field struct {
	Name  string
	Value string
}

// ConsentView is one remembered consent.
type ConsentView struct {
	ClientID string
	Client   string
}

// UserView is what a page may show of a user.
type UserView struct {
	Username string
	Name     string
	Email    string
	Groups   []string
}
