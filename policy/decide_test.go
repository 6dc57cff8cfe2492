package policy

import (
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCompile(t testing.TB, rules []Rule) *Policy {
	t.Helper()
	p, err := Compile(rules)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return p
}

// req builds a request for app.example.com from 192.0.2.1; path and method
// may be overridden with "METHOD /path" or "/path".
func req(s string) Request {
	r := Request{Host: "app.example.com", Path: "/", Method: "GET", ClientIP: netip.MustParseAddr("192.0.2.1")}
	if m, p, ok := strings.Cut(s, " "); ok {
		r.Method, r.Path = m, p
	} else if s != "" {
		r.Path = s
	}
	return r
}

func alice() *Subject {
	return &Subject{
		Authenticated: true, UserID: "u_alice", Username: "alice",
		Email: "alice@example.com", EmailVerified: true,
		Groups: []string{"dev", "staff"}, Scopes: []string{"openid", "read"},
		AMR: []string{"pwd"}, AuthTime: now.Add(-30 * time.Minute),
	}
}

func with(f func(*Subject)) *Subject {
	s := alice()
	f(s)
	return s
}

func withReq(f func(*Request)) Request {
	r := req("")
	f(&r)
	return r
}

func TestDecide(t *testing.T) {
	public := func(r Rule) Rule { r.Decision = DecisionPublic; return r }
	authn := func(r Rule) Rule { r.Decision = DecisionAuthenticated; return r }
	hosts := func(h ...string) Rule { return Rule{Hosts: h} }
	prefix := func(p string) Rule { return Rule{PathPrefix: p} }
	regex := func(re string) Rule { return Rule{PathRegex: re} }
	methods := func(m ...string) Rule { return Rule{Methods: m} }
	nets := func(n ...string) Rule { return Rule{Networks: n} }
	ip := func(s string) Request {
		return withReq(func(r *Request) { r.ClientIP = netip.MustParseAddr(s) })
	}
	host := func(h string) Request { return withReq(func(r *Request) { r.Host = h }) }

	tests := []struct {
		name  string
		rules []Rule
		req   Request
		sub   *Subject
		want  Effect
		rule  int
	}{
		// Hosts.
		{"exact host", []Rule{public(hosts("app.example.com"))}, req(""), nil, Allow, 0},
		{"exact host, other host", []Rule{public(hosts("app.example.com"))}, host("api.example.com"), nil, Deny, -1},
		{"host is case-insensitive", []Rule{public(hosts("app.example.com"))}, host("APP.Example.COM"), nil, Allow, 0},
		{"rule host is case-insensitive", []Rule{public(hosts("App.EXAMPLE.com"))}, req(""), nil, Allow, 0},
		{"host port ignored", []Rule{public(hosts("app.example.com"))}, host("app.example.com:8443"), nil, Allow, 0},
		{"host trailing dot ignored", []Rule{public(hosts("app.example.com"))}, host("app.example.com."), nil, Allow, 0},
		{"wildcard one label", []Rule{public(hosts("*.example.com"))}, host("a.example.com"), nil, Allow, 0},
		{"wildcard two labels", []Rule{public(hosts("*.example.com"))}, host("a.b.example.com"), nil, Allow, 0},
		{"wildcard not the apex", []Rule{public(hosts("*.example.com"))}, host("example.com"), nil, Deny, -1},
		{"wildcard at a label boundary", []Rule{public(hosts("*.example.com"))}, host("badexample.com"), nil, Deny, -1},
		{"wildcard needs a label", []Rule{public(hosts("*.example.com"))}, host(".example.com"), nil, Deny, -1},
		{"one of several hosts", []Rule{public(hosts("a.test", "app.example.com"))}, req(""), nil, Allow, 0},
		{"no hosts: any host", []Rule{public(Rule{})}, host("anything.test"), nil, Allow, 0},
		{"IPv6 literal host: only any-host rules", []Rule{
			{Hosts: []string{"app.example.com"}, Decision: DecisionDeny}, public(Rule{}),
		}, host("[::1]:8443"), nil, Allow, 1},
		{"exact before wildcard", []Rule{public(hosts("app.example.com")), {Hosts: []string{"*.example.com"}, Decision: DecisionDeny}}, req(""), nil, Allow, 0},
		{"wildcard after exact", []Rule{public(hosts("app.example.com")), {Hosts: []string{"*.example.com"}, Decision: DecisionDeny}}, host("api.example.com"), nil, Deny, 1},
		{"earlier any-host rule wins over exact", []Rule{
			{PathPrefix: "/x", Decision: DecisionDeny}, public(hosts("app.example.com")),
		}, req("/x/y"), nil, Deny, 0},

		// Paths.
		{"prefix itself", []Rule{public(prefix("/admin"))}, req("/admin"), nil, Allow, 0},
		{"prefix beneath", []Rule{public(prefix("/admin"))}, req("/admin/x/y"), nil, Allow, 0},
		{"prefix trailing slash", []Rule{public(prefix("/admin"))}, req("/admin/"), nil, Allow, 0},
		{"prefix segment boundary", []Rule{public(prefix("/admin"))}, req("/administrator"), nil, Deny, -1},
		{"prefix not the parent", []Rule{public(prefix("/admin"))}, req("/"), nil, Deny, -1},
		{"slash prefix: beneath only", []Rule{public(prefix("/admin/"))}, req("/admin/x"), nil, Allow, 0},
		{"slash prefix: itself with slash", []Rule{public(prefix("/admin/"))}, req("/admin/"), nil, Allow, 0},
		{"slash prefix: not without slash", []Rule{public(prefix("/admin/"))}, req("/admin"), nil, Deny, -1},
		{"prefix is case-sensitive", []Rule{public(prefix("/admin"))}, req("/Admin"), nil, Deny, -1},
		{"prefix ignores matrix parameters", []Rule{public(prefix("/admin/x"))}, req("/admin;a=b/x;jsessionid=1"), nil, Allow, 0},
		{"root prefix matches all", []Rule{public(prefix("/"))}, req("/a/b"), nil, Allow, 0},
		{"deep prefix", []Rule{public(prefix("/a/b/c"))}, req("/a/b/c/d"), nil, Allow, 0},
		{"deep prefix, sibling", []Rule{public(prefix("/a/b/c"))}, req("/a/b/d"), nil, Deny, -1},
		{"encoded prefix", []Rule{public(prefix("/caf%C3%A9"))}, req("/caf%C3%A9/menu"), nil, Allow, 0},
		{"regex anchored", []Rule{public(regex(`/api/v[0-9]+/users`))}, req("/api/v2/users"), nil, Allow, 0},
		{"regex anchored at end", []Rule{public(regex(`/api/v[0-9]+/users`))}, req("/api/v2/users/1"), nil, Deny, -1},
		{"regex anchored at start", []Rule{public(regex(`/api/v[0-9]+/users`))}, req("/x/api/v2/users"), nil, Deny, -1},
		{"regex case-insensitive flag", []Rule{public(regex(`(?i)/admin(/.*)?`))}, req("/ADMIN/x"), nil, Allow, 0},
		{"regex sees no matrix parameters", []Rule{public(regex(`/api/v1/users`))}, req("/api/v1/users;jsessionid=x"), nil, Allow, 0},
		{"regex before prefix", []Rule{
			{PathRegex: `/files/.*\.php`, Decision: DecisionDeny}, public(prefix("/files")),
		}, req("/files/a/x.php"), nil, Deny, 0},
		{"prefix before regex", []Rule{
			public(prefix("/files/public")), {PathRegex: `/files/.*\.php`, Decision: DecisionDeny},
		}, req("/files/public/x.php"), nil, Allow, 0},

		// Methods.
		{"method listed", []Rule{public(methods("GET", "HEAD"))}, req("HEAD /"), nil, Allow, 0},
		{"method is case-insensitive", []Rule{public(methods("GET"))}, req("get /"), nil, Allow, 0},
		{"rule method is case-insensitive", []Rule{public(methods("delete"))}, req("DELETE /"), nil, Allow, 0},
		{"method not listed", []Rule{public(methods("GET"))}, req("POST /"), nil, Deny, -1},
		{"extension method", []Rule{public(methods("PROPFIND"))}, req("PROPFIND /"), nil, Allow, 0},

		// Networks.
		{"IPv4 inside", []Rule{public(nets("192.0.2.0/24"))}, req(""), nil, Allow, 0},
		{"IPv4 outside", []Rule{public(nets("10.0.0.0/8"))}, req(""), nil, Deny, -1},
		{"single address", []Rule{public(nets("192.0.2.1"))}, req(""), nil, Allow, 0},
		{"one of several networks", []Rule{public(nets("10.0.0.0/8", "192.0.2.0/24"))}, req(""), nil, Allow, 0},
		{"IPv6 inside", []Rule{public(nets("2001:db8::/32"))}, ip("2001:db8::1"), nil, Allow, 0},
		{"IPv6 outside", []Rule{public(nets("2001:db8::/32"))}, ip("2001:db9::1"), nil, Deny, -1},
		{"IPv4-mapped client matches IPv4 network", []Rule{public(nets("10.0.0.0/8"))}, ip("::ffff:10.1.2.3"), nil, Allow, 0},
		{"IPv4-mapped network matches IPv4 client", []Rule{public(nets("::ffff:10.0.0.0/104"))}, ip("10.1.2.3"), nil, Allow, 0},
		{"IPv4 client not in IPv6 network", []Rule{public(nets("::/0"))}, ip("10.1.2.3"), nil, Deny, -1},
		{"zoned client", []Rule{public(nets("fe80::/10"))}, ip("fe80::1%eth0"), nil, Allow, 0},
		{"unknown client", []Rule{public(nets("0.0.0.0/0", "::/0"))}, withReq(func(r *Request) { r.ClientIP = netip.Addr{} }), nil, Deny, -1},

		// Decisions.
		{"public, anonymous", []Rule{public(Rule{})}, req(""), nil, Allow, 0},
		{"public, signed in", []Rule{public(Rule{})}, req(""), alice(), Allow, 0},
		{"deny, signed in", []Rule{{Decision: DecisionDeny}}, req(""), alice(), Deny, 0},
		{"authenticated, anonymous", []Rule{authn(Rule{})}, req(""), nil, NeedLogin, 0},
		{"authenticated, not authenticated", []Rule{authn(Rule{})}, req(""), with(func(s *Subject) { s.Authenticated = false }), NeedLogin, 0},
		{"authenticated, signed in", []Rule{authn(Rule{})}, req(""), alice(), Allow, 0},
		{"anonymous before requirements", []Rule{authn(Rule{GroupsAny: []string{"admins"}})}, req(""), nil, NeedLogin, 0},

		// Requirements.
		{"users by id", []Rule{authn(Rule{Users: []string{"u_alice"}})}, req(""), alice(), Allow, 0},
		{"users by username, any case", []Rule{authn(Rule{Users: []string{"ALICE"}})}, req(""), alice(), Allow, 0},
		{"users: id is exact", []Rule{authn(Rule{Users: []string{"U_ALICE"}})}, req(""), with(func(s *Subject) { s.Username = "" }), Deny, 0},
		{"users: not listed", []Rule{authn(Rule{Users: []string{"bob"}})}, req(""), alice(), Deny, 0},
		{"groups_any: one", []Rule{authn(Rule{GroupsAny: []string{"admins", "staff"}})}, req(""), alice(), Allow, 0},
		{"groups_any: none", []Rule{authn(Rule{GroupsAny: []string{"admins"}})}, req(""), alice(), Deny, 0},
		{"groups are case-sensitive", []Rule{authn(Rule{GroupsAny: []string{"Staff"}})}, req(""), alice(), Deny, 0},
		{"groups_all: all", []Rule{authn(Rule{GroupsAll: []string{"dev", "staff"}})}, req(""), alice(), Allow, 0},
		{"groups_all: some", []Rule{authn(Rule{GroupsAll: []string{"dev", "admins"}})}, req(""), alice(), Deny, 0},
		{"email domain", []Rule{authn(Rule{EmailDomains: []string{"example.com"}})}, req(""), alice(), Allow, 0},
		{"email domain, any case", []Rule{authn(Rule{EmailDomains: []string{"Example.COM"}})}, req(""),
			with(func(s *Subject) { s.Email = "Alice@EXAMPLE.com" }), Allow, 0},
		{"email domain, unverified", []Rule{authn(Rule{EmailDomains: []string{"example.com"}})}, req(""),
			with(func(s *Subject) { s.EmailVerified = false }), Deny, 0},
		{"email domain, other", []Rule{authn(Rule{EmailDomains: []string{"example.org"}})}, req(""), alice(), Deny, 0},
		{"email domain, subdomain not included", []Rule{authn(Rule{EmailDomains: []string{"example.com"}})}, req(""),
			with(func(s *Subject) { s.Email = "alice@corp.example.com" }), Deny, 0},
		{"email domain, no e-mail", []Rule{authn(Rule{EmailDomains: []string{"example.com"}})}, req(""),
			with(func(s *Subject) { s.Email = "" }), Deny, 0},
		{"users or groups: by group", []Rule{authn(Rule{Users: []string{"bob"}, GroupsAny: []string{"staff"}})}, req(""), alice(), Allow, 0},
		{"users or groups: by user", []Rule{authn(Rule{Users: []string{"alice"}, GroupsAny: []string{"admins"}})}, req(""), alice(), Allow, 0},
		{"users or groups or domains: none", []Rule{authn(Rule{Users: []string{"bob"}, GroupsAny: []string{"admins"}, EmailDomains: []string{"example.org"}})},
			req(""), alice(), Deny, 0},
		{"groups_all and domain: both", []Rule{authn(Rule{GroupsAll: []string{"staff"}, EmailDomains: []string{"example.com"}})}, req(""), alice(), Allow, 0},
		{"groups_all and domain: group missing", []Rule{authn(Rule{GroupsAll: []string{"admins"}, EmailDomains: []string{"example.com"}})}, req(""), alice(), Deny, 0},
		{"scopes: all held", []Rule{authn(Rule{Scopes: []string{"read", "openid"}})}, req(""), alice(), Allow, 0},
		{"scopes: one missing", []Rule{authn(Rule{Scopes: []string{"read", "write"}})}, req(""), alice(), Deny, 0},
		{"second factor: password only", []Rule{authn(Rule{SecondFactor: true})}, req(""), alice(), Reauthenticate, 0},
		{"second factor: password and otp", []Rule{authn(Rule{SecondFactor: true})}, req(""),
			with(func(s *Subject) { s.AMR = []string{"pwd", "otp"} }), Allow, 0},
		{"second factor: otp alone", []Rule{authn(Rule{SecondFactor: true})}, req(""),
			with(func(s *Subject) { s.AMR = []string{"otp"} }), Reauthenticate, 0},
		{"second factor: mfa", []Rule{authn(Rule{SecondFactor: true})}, req(""),
			with(func(s *Subject) { s.AMR = []string{"mfa"} }), Allow, 0},
		{"second factor: no amr", []Rule{authn(Rule{SecondFactor: true})}, req(""),
			with(func(s *Subject) { s.AMR = nil }), Reauthenticate, 0},
		{"identity checked before second factor", []Rule{authn(Rule{GroupsAny: []string{"admins"}, SecondFactor: true})}, req(""), alice(), Deny, 0},
		{"max age: fresh", []Rule{authn(Rule{MaxSessionAge: time.Hour})}, req(""), alice(), Allow, 0},
		{"max age: exactly", []Rule{authn(Rule{MaxSessionAge: 30 * time.Minute})}, req(""), alice(), Allow, 0},
		{"max age: too old", []Rule{authn(Rule{MaxSessionAge: 10 * time.Minute})}, req(""), alice(), Reauthenticate, 0},
		{"max age: unknown auth time", []Rule{authn(Rule{MaxSessionAge: time.Hour})}, req(""),
			with(func(s *Subject) { s.AuthTime = time.Time{} }), Reauthenticate, 0},
		{"identity checked before max age", []Rule{authn(Rule{Scopes: []string{"write"}, MaxSessionAge: time.Minute})}, req(""), alice(), Deny, 0},

		// Order.
		{"first match wins", []Rule{{PathPrefix: "/admin", Decision: DecisionDeny}, public(Rule{})}, req("/admin/x"), nil, Deny, 0},
		{"first match wins, later", []Rule{{PathPrefix: "/admin", Decision: DecisionDeny}, public(Rule{})}, req("/x"), nil, Allow, 1},
		{"failed requirement does not fall through", []Rule{
			authn(Rule{PathPrefix: "/admin", GroupsAny: []string{"admins"}}), public(Rule{}),
		}, req("/admin"), alice(), Deny, 0},
		{"narrower method rule first", []Rule{
			{Methods: []string{"DELETE"}, Decision: DecisionDeny}, public(Rule{}),
		}, req("DELETE /x"), nil, Deny, 0},
		{"default deny", nil, req(""), alice(), Deny, -1},
		{"default deny after rules", []Rule{public(prefix("/a")), public(prefix("/b"))}, req("/c"), nil, Deny, -1},
		{"path not normalised", []Rule{public(Rule{})}, req("/a//b"), nil, Deny, -1},
		{"path not normalised: dot segment", []Rule{public(Rule{})}, req("/a/../b"), nil, Deny, -1},
		{"path not normalised: relative", []Rule{public(Rule{})}, req("a"), nil, Deny, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.rules)
			got := p.Decide(tt.req, tt.sub, now)
			if got.Effect != tt.want || got.RuleIndex != tt.rule {
				t.Errorf("Decide = %v by rule %d (%s), want %v by rule %d", got.Effect, got.RuleIndex, got.Reason, tt.want, tt.rule)
			}
			if got.Reason == "" {
				t.Error("empty reason")
			}
			if e := p.Explain(tt.req, tt.sub, now); e.Outcome != got {
				t.Errorf("Explain outcome %+v differs from Decide %+v", e.Outcome, got)
			}
		})
	}
}

func TestDecide_Reasons(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Name: "admin", PathPrefix: "/admin", Decision: DecisionAuthenticated, GroupsAny: []string{"admins"}},
		{PathPrefix: "/ops", Decision: DecisionAuthenticated, SecondFactor: true, MaxSessionAge: time.Hour},
		{PathPrefix: "/who", Decision: DecisionAuthenticated, Users: []string{"bob"}, EmailDomains: []string{"example.org"}},
		{PathPrefix: "/public", Decision: DecisionPublic},
	})
	tests := []struct {
		req  Request
		sub  *Subject
		want string
	}{
		{req("/admin"), alice(), `rule 0 ("admin"): user not in any of groups [admins]`},
		{req("/admin"), nil, `rule 0 ("admin"): sign-in required`},
		{req("/ops"), alice(), `rule 1: second factor required`},
		{req("/ops"), with(func(s *Subject) { s.AMR = []string{"pwd", "hwk"}; s.AuthTime = now.Add(-2 * time.Hour) }),
			`rule 1: sign-in older than 1h0m0s, sign in again`},
		{req("/ops"), with(func(s *Subject) { s.AMR = []string{"pwd", "hwk"} }), `rule 1: requirements met`},
		{req("/who"), alice(), `rule 2: user not one of users [bob], no verified e-mail address in domains [example.org]`},
		{req("/public"), nil, `rule 3: public`},
		{req("/nope"), nil, `no rule matched: default deny`},
	}
	for _, tt := range tests {
		if got := p.Decide(tt.req, tt.sub, now).Reason; got != tt.want {
			t.Errorf("%s: reason %q, want %q", tt.req.Path, got, tt.want)
		}
	}
}

func TestHasSecondFactor(t *testing.T) {
	tests := []struct {
		amr  []string
		want bool
	}{
		{nil, false},
		{[]string{"pwd"}, false},
		{[]string{"otp"}, false},
		{[]string{"otp", "sms"}, false}, // both held: one kind
		{[]string{"pwd", "kba"}, false}, // both known: one kind
		{[]string{"mfa"}, true},
		{[]string{"pwd", "otp"}, true},
		{[]string{"pwd", "sms"}, true},
		{[]string{"hwk", "pin"}, true},
		{[]string{"swk", "fpt"}, true},
		{[]string{"pwd", "face"}, true},
		{[]string{"pwd", "geo", "user"}, false}, // not factors
		{[]string{"PWD", "OTP"}, false},         // values are case-sensitive
	}
	for _, tt := range tests {
		if got := HasSecondFactor(tt.amr); got != tt.want {
			t.Errorf("HasSecondFactor(%q) = %v, want %v", tt.amr, got, tt.want)
		}
	}
}

func TestDecide_DoesNotAllocate(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Hosts: []string{"*.example.com"}, PathPrefix: "/admin", Decision: DecisionDeny},
		{Hosts: []string{"app.example.com"}, PathPrefix: "/api/", Methods: []string{"GET"}, Networks: []string{"192.0.2.0/24"},
			Decision: DecisionAuthenticated, GroupsAll: []string{"dev"}, Scopes: []string{"read"}, SecondFactor: true},
		{PathRegex: `/static/.*\.css`, Decision: DecisionPublic},
	})
	sub := with(func(s *Subject) { s.AMR = []string{"pwd", "otp"} })
	for _, r := range []Request{req("/api/v1/users"), req("/static/a.css"), req("/admin/x"), req("/none"), withReq(func(r *Request) { r.Host = "APP.example.com:443"; r.Path = "/api/x" })} {
		var out Outcome
		if n := testing.AllocsPerRun(200, func() { out = p.Decide(r, sub, now) }); n != 0 {
			t.Errorf("Decide(%s %s) allocates %v times", r.Host, r.Path, n)
		}
		_ = out
	}
}

func TestDecide_Concurrent(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Hosts: []string{"app.example.com"}, PathPrefix: "/admin", Decision: DecisionAuthenticated, GroupsAny: []string{"staff"}},
		{PathRegex: `/x/.*`, Decision: DecisionPublic},
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if o := p.Decide(req("/admin/a;x=1"), alice(), now); o.Effect != Allow {
					t.Errorf("got %+v", o)
					return
				}
				if o := p.Decide(req("/x/a;b"), nil, now); o.Effect != Allow {
					t.Errorf("got %+v", o)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"App.Example.COM", "app.example.com", true},
		{"app.example.com:8443", "app.example.com", true},
		{"app.example.com.", "app.example.com", true},
		{"192.0.2.1:80", "192.0.2.1", true},
		{"[::1]:443", "", false},
		{"", "", false},
		{"a..b", "", false},
		{"bad host", "", false},
		{"app.example.com:x", "", false},
	}
	for _, tt := range tests {
		got, ok := NormalizeHost(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

// TestPathRegex_TrailingSlash: a path_regex is anchored to the whole
// normalised path, whose trailing "/" is kept, so "/admin" and "/admin/"
// are different paths to a regex.
func TestPathRegex_TrailingSlash(t *testing.T) {
	tests := []struct {
		re    string
		path  string
		match bool
	}{
		{"/admin", "/admin", true},
		{"/admin", "/admin/", false},
		{"/admin/", "/admin", false},
		{"/admin/", "/admin/", true},
		{"/admin/?", "/admin", true},
		{"/admin/?", "/admin/", true},
		{"/admin/?", "/admin/x", false},
		{"/admin(/.*)?", "/admin", true},
		{"/admin(/.*)?", "/admin/", true},
		{"/admin(/.*)?", "/admin/x/", true},
		{"/admin(/.*)?", "/administrator", false},
		{"/admin(/.*)?", "/admin;x", true},   // matrix parameters are removed first
		{"/admin(/.*)?", "/admin/.", true},   // normalised to "/admin/"
		{"/admin", "//admin//", false},       // normalised to "/admin/"
		{"/files/[^/]+", "/files/a/", false}, // the slash stays
		// The case-insensitive recipe of docs/gateway.md.
		{"(?i)/admin(/.*)?", "/ADMIN", true},
		{"(?i)/admin(/.*)?", "/Admin/x", true},
		{"(?i)/admin(/.*)?", "/%41dmin", true}, // decoded to "/Admin"
		{"(?i)/admin(/.*)?", "/administrator", false},
	}
	for _, tt := range tests {
		p := mustCompile(t, []Rule{{PathRegex: tt.re, Decision: DecisionPublic}})
		norm, err := NormalizePath(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		out := p.Decide(Request{Host: "a.test", Path: norm, Method: "GET"}, nil, time.Now())
		if got := out.Effect == Allow; got != tt.match {
			t.Errorf("regex %q on %q (normalised %q): match %t, want %t", tt.re, tt.path, norm, got, tt.match)
		}
	}
}

// TestDecide_ServiceClients: "authenticated" means a person; a service
// client (client_credentials) passes only a rule that lists it in
// clients, and people never match clients.
func TestDecide_ServiceClients(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Name: "svc only", PathPrefix: "/svc", Decision: DecisionAuthenticated, Clients: []string{"svc", "batch"}},
		{Name: "svc or admins", PathPrefix: "/mixed", Decision: DecisionAuthenticated, Clients: []string{"svc"}, GroupsAny: []string{"admins"}},
		{Name: "svc with scope", PathPrefix: "/scoped", Decision: DecisionAuthenticated, Clients: []string{"svc"}, Scopes: []string{"api.write"}},
		{Name: "svc and persons only", PathPrefix: "/person", Decision: DecisionAuthenticated, Clients: []string{"svc"}, GroupsAll: []string{"staff"}},
		{Name: "svc, fresh", PathPrefix: "/fresh", Decision: DecisionAuthenticated, Clients: []string{"svc"}, MaxSessionAge: time.Hour},
		{Name: "people", Decision: DecisionAuthenticated},
	})
	service := func(client string, scopes ...string) *Subject {
		return &Subject{Authenticated: true, Service: true, Client: client, UserID: "client:" + client, Scopes: scopes}
	}
	admin := with(func(s *Subject) { s.Groups = []string{"admins"} })
	tests := []struct {
		name   string
		path   string
		sub    *Subject
		effect Effect
		reason string
	}{
		{"service on a plain authenticated rule", "/x", service("svc"), Deny, `rule 5 ("people"): a service client (client_credentials) passes only a rule that lists it in clients`},
		{"person on a plain authenticated rule", "/x", alice(), Allow, ""},
		{"person with a bearer token of a client", "/x", with(func(s *Subject) { s.Client = "svc" }), Allow, ""},
		{"listed service", "/svc", service("batch"), Allow, ""},
		{"unlisted service", "/svc", service("other"), Deny, `rule 0 ("svc only"): service client not one of clients [svc batch]`},
		{"person on a clients-only rule", "/svc", alice(), Deny, `rule 0 ("svc only"): only service clients [svc batch] pass, not people`},
		{"person whose user id looks like the service", "/svc", with(func(s *Subject) { s.UserID = "client:svc"; s.Client = "svc" }), Deny, ""},
		{"anonymous on a clients-only rule", "/svc", nil, NeedLogin, ""},
		{"mixed: service", "/mixed", service("svc"), Allow, ""},
		{"mixed: admin", "/mixed", admin, Allow, ""},
		{"mixed: other person", "/mixed", alice(), Deny, ""},
		{"scoped: service without the scope", "/scoped", service("svc", "api.read"), Deny, ""},
		{"scoped: service with the scope", "/scoped", service("svc", "api.write"), Allow, ""},
		{"groups_all: a service has no groups", "/person", service("svc"), Deny, ""},
		{"max_session_age: a service cannot sign in again", "/fresh", service("svc"), Deny, ""},
		{"a service that claims groups is still a service", "/x", with(func(s *Subject) { s.Service = true; s.Client = "svc" }), Deny, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := p.Decide(req(tt.path), tt.sub, now)
			if out.Effect != tt.effect {
				t.Fatalf("effect %v (%s), want %v", out.Effect, out.Reason, tt.effect)
			}
			if tt.reason != "" && out.Reason != tt.reason {
				t.Errorf("reason %q, want %q", out.Reason, tt.reason)
			}
			if ex := p.Explain(req(tt.path), tt.sub, now); ex.Outcome != out {
				t.Errorf("Explain %+v, Decide %+v", ex.Outcome, out)
			}
		})
	}
	// Explain says why.
	ex := p.Explain(req("/x"), service("svc"), now).String()
	for _, want := range []string{`signed in: service client "svc" (client_credentials: no person)`, "clients: none listed: no"} {
		if !strings.Contains(ex, want) {
			t.Errorf("explanation lacks %q:\n%s", want, ex)
		}
	}
}
