package policy

import (
	"net/netip"
	"strconv"
	"time"
)

// Decision is what a [Rule] decides once it matches a request. The values
// are the words used in configuration files.
type Decision string

// Decisions.
const (
	// DecisionPublic allows every request, signed in or not.
	DecisionPublic Decision = "public"
	// DecisionDeny refuses every request, signed in or not.
	DecisionDeny Decision = "deny"
	// DecisionAuthenticated asks for a signed-in subject that meets the
	// rule's requirements.
	DecisionAuthenticated Decision = "authenticated"
)

// Rule is one entry of a policy. The match fields (Hosts, PathPrefix or
// PathRegex, Methods, Networks) say which requests the rule is about; an
// empty match field matches everything. The first rule whose match fields
// all match a request decides it, and the requirements of that rule are
// then checked: a subject that fails them is refused, the request does not
// fall through to later rules.
type Rule struct {
	// Name is an optional label shown in reasons and explanations.
	Name string

	// Hosts the rule applies to: exact names ("app.example.com") or
	// wildcards ("*.example.com", which matches one or more labels in
	// front of example.com — "a.example.com", "a.b.example.com" — but not
	// example.com itself). Names are compared case-insensitively and
	// without a trailing dot; internationalised names must be written in
	// their ASCII (punycode) form. Empty matches any host.
	Hosts []string
	// PathPrefix matches a path at a segment boundary: "/admin" matches
	// "/admin" and "/admin/x" but not "/administrator"; "/admin/" matches
	// "/admin/" and everything beneath it but not "/admin". It must be in
	// the normalised form [NormalizePath] returns (it is compared with
	// normalised paths) and must not contain ";". Paths are
	// case-sensitive.
	PathPrefix string
	// PathRegex is an RE2 regular expression matched against the whole
	// normalised path (it is anchored: "^(?:" + PathRegex + ")$"), with
	// matrix parameters (";..." in a segment) removed. The path is still
	// percent-encoded in the canonical way NormalizePath produces. A
	// trailing "/" is part of the path and is kept by normalisation
	// ("/admin/" and "/admin/." stay "/admin/"), so "/admin" does not
	// match "/admin/": write "/admin/?" for both, or "/admin(/.*)?" for
	// the path and everything beneath it. At most one of PathPrefix and
	// PathRegex may be set.
	PathRegex string
	// Methods the rule applies to, compared case-insensitively. Empty
	// matches any method.
	Methods []string
	// Networks the client address must be inside of: CIDR prefixes
	// ("10.0.0.0/8", "2001:db8::/32") or single addresses. IPv4-mapped
	// IPv6 client addresses (::ffff:10.1.2.3) are matched as IPv4. Empty
	// matches any client.
	Networks []string

	// Decision is what the rule decides; it is required.
	Decision Decision

	// The requirements below apply only to DecisionAuthenticated rules.
	// Users, GroupsAny, EmailDomains and Clients say who may pass: when
	// any of them is set, the subject must be one of Users, or be in one
	// of GroupsAny, or have a verified e-mail address in one of
	// EmailDomains, or be a service client in Clients — one suffices.
	// GroupsAll, Scopes, SecondFactor and MaxSessionAge must each hold as
	// well.
	//
	// An authenticated rule admits people. A service client (a
	// client_credentials token, which acts for no person) passes only a
	// rule that lists it in Clients; every other authenticated rule denies
	// it.

	// Users lists users by UserID (exact) or Username (case-insensitive).
	Users []string
	// GroupsAny lists groups; membership of one of them suffices.
	GroupsAny []string
	// GroupsAll: the subject must be in every one of these groups.
	GroupsAll []string
	// EmailDomains lists e-mail domains (compared case-insensitively;
	// subdomains are not included). Only a verified address counts.
	EmailDomains []string
	// Clients lists service clients by client id: client_credentials
	// tokens of these clients pass the rule. People never match it.
	Clients []string
	// Scopes the subject must hold, all of them (from the bearer token, or
	// granted to the session).
	Scopes []string
	// SecondFactor asks for a sign-in with a second factor; see
	// [HasSecondFactor]. A subject without one must re-authenticate.
	SecondFactor bool
	// MaxSessionAge bounds the time since the subject last authenticated
	// (now - AuthTime). An older sign-in must re-authenticate. Zero means
	// no bound.
	MaxSessionAge time.Duration
}

// hasRequirements reports whether any requirement field is set.
func (r *Rule) hasRequirements() bool {
	return len(r.Users) > 0 || len(r.GroupsAny) > 0 || len(r.GroupsAll) > 0 ||
		len(r.EmailDomains) > 0 || len(r.Clients) > 0 || len(r.Scopes) > 0 || r.SecondFactor || r.MaxSessionAge != 0
}

// Request is what a decision looks at.
type Request struct {
	// Host is the host the request is for, as in the Host header: compared
	// case-insensitively, a port and a trailing dot are ignored.
	Host string
	// Path must be the output of [NormalizePath], which is also the path
	// forwarded upstream. Decide denies a path that is not in that form.
	Path string
	// Method is the HTTP method.
	Method string
	// ClientIP is the client's address; the zero value matches no rule
	// that lists Networks.
	ClientIP netip.Addr
}

// Subject is who makes the request. A nil Subject, or one with
// Authenticated false, is anonymous.
type Subject struct {
	Authenticated bool
	// Service marks a service client: a client_credentials token, the
	// client acting for itself. It passes only rules that list Client in
	// Clients; its user fields are empty.
	Service bool
	// Client is the OAuth client id of the bearer token the request
	// carries; "" for a browser session.
	Client   string
	UserID   string
	Username string
	Email    string
	// EmailVerified must be true for EmailDomains to be met.
	EmailVerified bool
	Groups        []string
	// Scopes held: from the bearer token, or granted to the session.
	Scopes []string
	// AMR lists the authentication methods of the sign-in (RFC 8176
	// values: "pwd", "otp", "hwk", ...).
	AMR []string
	// AuthTime is when the subject last authenticated; the zero time
	// fails every MaxSessionAge.
	AuthTime time.Time
}

// Effect is the result of a decision. The zero value is Deny.
type Effect uint8

// Effects.
const (
	// Deny refuses the request (403 for a browser or API client).
	Deny Effect = iota
	// Allow lets the request through.
	Allow
	// NeedLogin: the rule needs a signed-in subject and there is none
	// (redirect a browser to sign in, 401 for an API client).
	NeedLogin
	// Reauthenticate: the subject is allowed in principle but must sign
	// in again — with a second factor, or because the sign-in is older
	// than the rule's MaxSessionAge (step-up).
	Reauthenticate
)

// String returns "deny", "allow", "need-login" or "reauthenticate".
func (e Effect) String() string {
	switch e {
	case Deny:
		return "deny"
	case Allow:
		return "allow"
	case NeedLogin:
		return "need-login"
	case Reauthenticate:
		return "reauthenticate"
	}
	return "effect(" + strconv.Itoa(int(e)) + ")"
}

// Outcome is a decision with its cause.
type Outcome struct {
	Effect Effect
	// RuleIndex is the index of the deciding rule in the list given to
	// Compile, or -1 when no rule matched (default deny) or the path was
	// not normalised.
	RuleIndex int
	// Reason says why, for people and logs: "rule 3: user not in any of
	// groups [admins]". It never contains data about the subject or the
	// request, so it is safe to log; it may name the rule's users and
	// groups, so show it to end users only if those are not confidential.
	Reason string
}

// HasSecondFactor reports whether a sign-in with these authentication
// methods (RFC 8176 "amr" values) used more than one factor: either the
// list contains "mfa", or it contains methods of at least two different
// kinds among
//
//   - something known: "pwd", "pin", "kba";
//   - something held: "otp", "hwk", "swk", "sms", "tel", "sc", "pop";
//   - something the user is: "fpt", "face", "iris", "retina", "vbm".
//
// So "pwd"+"otp" (password then TOTP or an e-mail code) and "hwk"+"pin"
// (a security key with a PIN) count, while "otp" alone (a one-time code
// as the only factor) or "pwd" alone do not. Unknown values are ignored.
func HasSecondFactor(amr []string) bool {
	var kinds uint8
	for _, m := range amr {
		switch m {
		case "mfa":
			return true
		case "pwd", "pin", "kba":
			kinds |= 1
		case "otp", "hwk", "swk", "sms", "tel", "sc", "pop":
			kinds |= 2
		case "fpt", "face", "iris", "retina", "vbm":
			kinds |= 4
		}
	}
	return kinds&(kinds-1) != 0 // two or more bits set
}
