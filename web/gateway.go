package web

// Pages the gateway shows on app hosts (under /.gatehouse/).

// DeniedPage tells a signed-in user that a rule does not let them see
// the page they asked for, and offers to sign in as someone else.
type DeniedPage struct {
	Frame
	// User is the signed-in user; nil when nobody is.
	User *UserView
	// SwitchURL starts a sign-in that asks for credentials again, then
	// returns to the page that was refused.
	SwitchURL string
	// SignOutURL is where the sign-out form posts.
	SignOutURL string
}

// AppSignedOutPage tells the user, on an app host, that they are signed
// out, and links to sign in again.
type AppSignedOutPage struct {
	Frame
	// SignInURL starts a new sign-in on this host.
	SignInURL string
}

func (*DeniedPage) template() string       { return "denied" }
func (*AppSignedOutPage) template() string { return "app_signed_out" }
