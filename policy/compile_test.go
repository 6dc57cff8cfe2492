package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCompile_Errors(t *testing.T) {
	ok := Rule{PathPrefix: "/ok", Decision: DecisionPublic}
	pub := func(r Rule) Rule { r.Decision = DecisionPublic; return r }
	authn := func(r Rule) Rule { r.Decision = DecisionAuthenticated; return r }
	tests := []struct {
		name  string
		rules []Rule
		want  string // the whole message of the first problem
		index int
	}{
		{"missing decision", []Rule{{}}, `rule 0: decision: is required (public, deny or authenticated)`, 0},
		{"unknown decision", []Rule{ok, {Decision: "allow"}}, `rule 1: decision: unknown decision "allow" (want public, deny or authenticated)`, 1},
		{"bad CIDR", []Rule{ok, pub(Rule{Networks: []string{"10.0.0.0/8", "10.0.0.0/33"}})},
			`rule 1: networks[1]: "10.0.0.0/33" is not a CIDR prefix: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range`, 1},
		{"CIDR host bits", []Rule{pub(Rule{Networks: []string{"10.0.0.1/8"}})}, `rule 0: networks[0]: "10.0.0.1/8" has host bits set; did you mean "10.0.0.0/8"?`, 0},
		{"IP address as host", []Rule{pub(Rule{Hosts: []string{"10.0.0.1"}})}, `rule 0: hosts[0]: "10.0.0.1" must be a DNS name, not an IP address`, 0},
		{"bad address", []Rule{pub(Rule{Networks: []string{"intranet"}})}, `rule 0: networks[0]: "intranet" is not a CIDR prefix (such as 10.0.0.0/8) or an IP address`, 0},
		{"IPv6 host bits", []Rule{pub(Rule{Networks: []string{"::ffff:0:0/90"}})}, `rule 0: networks[0]: "::ffff:0:0/90" has host bits set; did you mean "::ffc0:0:0/90"?`, 0},
		{"empty network", []Rule{pub(Rule{Networks: []string{""}})}, `rule 0: networks[0]: is empty`, 0},
		{"bad regex", []Rule{ok, ok, pub(Rule{PathRegex: `/a(`})}, "rule 2: path_regex: does not compile: error parsing regexp: missing closing ): `^(?:/a()$`", 2},
		{"prefix and regex", []Rule{pub(Rule{PathPrefix: "/a", PathRegex: "/b"})}, `rule 0: path_regex: path_prefix and path_regex are mutually exclusive`, 0},
		{"relative prefix", []Rule{pub(Rule{PathPrefix: "admin"})}, `rule 0: path_prefix: "admin" must start with "/"`, 0},
		{"prefix not normalised", []Rule{pub(Rule{PathPrefix: "/a//b/./c"})}, `rule 0: path_prefix: "/a//b/./c" is not normalised, so no request path can equal it; write "/a/b/c"`, 0},
		{"prefix encoded unreserved", []Rule{pub(Rule{PathPrefix: "/%61dmin"})}, `rule 0: path_prefix: "/%61dmin" is not normalised, so no request path can equal it; write "/admin"`, 0},
		{"prefix encoded slash", []Rule{pub(Rule{PathPrefix: "/a%2Fb"})}, `rule 0: path_prefix: "/a%2Fb" is not a valid path: bad request path: encoded slash (%2F)`, 0},
		{"prefix with parameters", []Rule{pub(Rule{PathPrefix: "/a;x"})}, `rule 0: path_prefix: "/a;x" must not contain ";" (matrix parameters are ignored when matching)`, 0},
		{"requirements on public", []Rule{pub(Rule{Users: []string{"alice"}})}, `rule 0: users: requirements apply only to authenticated rules; this rule is public`, 0},
		{"groups on deny", []Rule{ok, {Decision: DecisionDeny, GroupsAny: []string{"x"}}}, `rule 1: groups_any: requirements apply only to authenticated rules; this rule is deny`, 1},
		{"second factor on deny", []Rule{{Decision: DecisionDeny, SecondFactor: true}}, `rule 0: second_factor: requirements apply only to authenticated rules; this rule is deny`, 0},
		{"max age on public", []Rule{pub(Rule{MaxSessionAge: time.Hour})}, `rule 0: max_session_age: requirements apply only to authenticated rules; this rule is public`, 0},
		{"empty host", []Rule{pub(Rule{Hosts: []string{"a.example.com", ""}})}, `rule 0: hosts[1]: is empty`, 0},
		{"wildcard inside", []Rule{pub(Rule{Hosts: []string{"a.*.com"}})}, `rule 0: hosts[0]: "a.*.com" is not a valid wildcard: "*" may only be the whole first label, like "*.example.com"`, 0},
		{"wildcard glued", []Rule{pub(Rule{Hosts: []string{"*example.com"}})}, `rule 0: hosts[0]: "*example.com" is not a valid wildcard: "*" may only be the whole first label, like "*.example.com"`, 0},
		{"wildcard twice", []Rule{pub(Rule{Hosts: []string{"*.*.example.com"}})}, `rule 0: hosts[0]: "*.*.example.com" is not a valid wildcard: "*." must be followed by a host name, like "*.example.com"`, 0},
		{"star host", []Rule{pub(Rule{Hosts: []string{"*"}})}, `rule 0: hosts[0]: "*" is not a host; leave hosts empty to match any host`, 0},
		{"host with port", []Rule{pub(Rule{Hosts: []string{"app.example.com:8443"}})}, `rule 0: hosts[0]: "app.example.com:8443" must not include a port (or be an IPv6 address)`, 0},
		{"host with bad characters", []Rule{pub(Rule{Hosts: []string{"app example.com"}})}, `rule 0: hosts[0]: "app example.com" is not a valid host name`, 0},
		{"host empty label", []Rule{pub(Rule{Hosts: []string{"app..example.com"}})}, `rule 0: hosts[0]: "app..example.com" is not a valid host name`, 0},
		{"duplicate host", []Rule{pub(Rule{Hosts: []string{"a.example.com", "A.example.com."}})}, `rule 0: hosts[1]: duplicate of hosts[0]`, 0},
		{"star method", []Rule{pub(Rule{Methods: []string{"*"}})}, `rule 0: methods[0]: "*" is not a method; leave methods empty to match any method`, 0},
		{"bad method", []Rule{pub(Rule{Methods: []string{"GET POST"}})}, `rule 0: methods[0]: "GET POST" is not an HTTP method`, 0},
		{"duplicate method", []Rule{pub(Rule{Methods: []string{"GET", "get"}})}, `rule 0: methods[1]: duplicate method "get"`, 0},
		{"empty user", []Rule{authn(Rule{Users: []string{""}})}, `rule 0: users[0]: is empty`, 0},
		{"empty group", []Rule{authn(Rule{GroupsAll: []string{"a", ""}})}, `rule 0: groups_all[1]: is empty`, 0},
		{"duplicate group", []Rule{authn(Rule{GroupsAny: []string{"a", "a"}})}, `rule 0: groups_any[1]: duplicate of groups_any[0]`, 0},
		{"empty client", []Rule{authn(Rule{Clients: []string{""}})}, `rule 0: clients[0]: is empty`, 0},
		{"duplicate client", []Rule{authn(Rule{Clients: []string{"svc", "svc"}})}, `rule 0: clients[1]: duplicate of clients[0]`, 0},
		{"clients on public", []Rule{pub(Rule{Clients: []string{"svc"}})}, `rule 0: clients: requirements apply only to authenticated rules; this rule is public`, 0},
		{"domain with @", []Rule{authn(Rule{EmailDomains: []string{"@example.com"}})}, `rule 0: email_domains[0]: "@example.com" must be a domain like "example.com", without "@"`, 0},
		{"bad domain", []Rule{authn(Rule{EmailDomains: []string{"example com"}})}, `rule 0: email_domains[0]: "example com" is not a domain name`, 0},
		{"scope with space", []Rule{authn(Rule{Scopes: []string{"read write"}})}, `rule 0: scopes[0]: "read write" contains whitespace; list each scope separately`, 0},
		{"negative max age", []Rule{authn(Rule{MaxSessionAge: -time.Minute})}, `rule 0: max_session_age: must not be negative (0 means no limit)`, 0},
		{"named rule", []Rule{{Name: "admin area", Decision: "nope"}}, `rule 0 ("admin area"): decision: unknown decision "nope" (want public, deny or authenticated)`, 0},

		// Unreachable rules.
		{"same rule twice", []Rule{ok, ok}, `rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"catch-all first", []Rule{pub(Rule{}), {PathPrefix: "/admin", Decision: DecisionDeny}},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"root prefix first", []Rule{pub(Rule{PathPrefix: "/"}), {Hosts: []string{"a.example.com"}, Decision: DecisionDeny}},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"covering prefix", []Rule{ok, {PathPrefix: "/admin", Decision: DecisionDeny}, pub(Rule{PathPrefix: "/admin/users/"})},
			`rule 2: unreachable: rule 1 matches every request it would match`, 2},
		{"slash prefix covers deeper", []Rule{{PathPrefix: "/admin/", Decision: DecisionDeny}, pub(Rule{PathPrefix: "/admin/x"})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"wildcard covers exact", []Rule{{Hosts: []string{"*.example.com"}, PathPrefix: "/admin", Decision: DecisionDeny},
			pub(Rule{Hosts: []string{"app.example.com"}, PathPrefix: "/admin/x"})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"wildcard covers wildcard", []Rule{{Hosts: []string{"*.example.com"}, Decision: DecisionDeny}, pub(Rule{Hosts: []string{"*.b.example.com"}})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"hosts superset", []Rule{{Hosts: []string{"a.test", "b.test"}, Decision: DecisionDeny}, pub(Rule{Hosts: []string{"b.test"}})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"methods superset", []Rule{{Methods: []string{"GET", "POST"}, Decision: DecisionDeny}, pub(Rule{Methods: []string{"post"}, PathPrefix: "/x"})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"networks superset", []Rule{{Networks: []string{"10.0.0.0/8"}, Decision: DecisionDeny}, pub(Rule{Networks: []string{"10.1.0.0/16", "10.2.3.4"}})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"same regex", []Rule{{PathRegex: `/a/.*`, Decision: DecisionDeny}, authn(Rule{PathRegex: `/a/.*`, GroupsAny: []string{"x"}})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"requirements do not make a rule reachable", []Rule{authn(Rule{PathPrefix: "/a", GroupsAny: []string{"x"}}), authn(Rule{PathPrefix: "/a", GroupsAny: []string{"y"}})},
			`rule 1: unreachable: rule 0 matches every request it would match`, 1},
		{"named unreachable", []Rule{{Name: "all", Decision: DecisionDeny}, {Name: "late", Decision: DecisionPublic}},
			`rule 1 ("late"): unreachable: rule 0 ("all") matches every request it would match`, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.rules)
			if err == nil {
				t.Fatalf("Compile succeeded (%d rules), want %q", p.Len(), tt.want)
			}
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RuleError", err)
			}
			if re.Error() != tt.want {
				t.Errorf("error\n got %s\nwant %s", re.Error(), tt.want)
			}
			if re.Index != tt.index {
				t.Errorf("Index = %d, want %d", re.Index, tt.index)
			}
		})
	}
}

func TestCompile_ListsEveryProblem(t *testing.T) {
	_, err := Compile([]Rule{
		{Hosts: []string{"a.*.com"}, Networks: []string{"x"}, Decision: DecisionPublic},
		{Decision: DecisionPublic},
		{Decision: "nope", Users: []string{""}},
	})
	if err == nil {
		t.Fatal("no error")
	}
	want := []string{"rule 0: hosts[0]", "rule 0: networks[0]", "rule 2: decision"}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != len(want) {
		t.Errorf("%d problems, want %d:\n%v", n, len(want), err)
	}
}

// TestCompile_Reachable lists rule pairs that look alike but where the later
// rule can still match something.
func TestCompile_Reachable(t *testing.T) {
	deny := func(r Rule) Rule { r.Decision = DecisionDeny; return r }
	pub := func(r Rule) Rule { r.Decision = DecisionPublic; return r }
	tests := []struct {
		name  string
		rules []Rule
	}{
		{"narrow first", []Rule{deny(Rule{PathPrefix: "/admin"}), pub(Rule{})}},
		{"slash prefix does not cover the bare path", []Rule{deny(Rule{PathPrefix: "/admin/"}), pub(Rule{PathPrefix: "/admin"})}},
		{"prefix is not a string prefix", []Rule{deny(Rule{PathPrefix: "/admin"}), pub(Rule{PathPrefix: "/administrator"})}},
		{"exact then wildcard", []Rule{deny(Rule{Hosts: []string{"a.example.com"}}), pub(Rule{Hosts: []string{"*.example.com"}})}},
		{"wildcard does not cover the apex", []Rule{deny(Rule{Hosts: []string{"*.example.com"}}), pub(Rule{Hosts: []string{"example.com"}})}},
		{"narrower wildcard first", []Rule{deny(Rule{Hosts: []string{"*.b.example.com"}}), pub(Rule{Hosts: []string{"*.example.com"}})}},
		{"hosts only partly covered", []Rule{deny(Rule{Hosts: []string{"a.test"}}), pub(Rule{Hosts: []string{"a.test", "b.test"}})}},
		{"methods first", []Rule{deny(Rule{Methods: []string{"GET"}}), pub(Rule{})}},
		{"fewer methods first", []Rule{deny(Rule{Methods: []string{"GET"}}), pub(Rule{Methods: []string{"GET", "POST"}})}},
		{"networks first", []Rule{deny(Rule{Networks: []string{"10.0.0.0/8"}}), pub(Rule{Networks: []string{"10.0.0.0/8", "192.168.0.0/16"}})}},
		{"narrower network first", []Rule{deny(Rule{Networks: []string{"10.1.0.0/16"}}), pub(Rule{Networks: []string{"10.0.0.0/8"}})}},
		{"IPv4 does not cover IPv6", []Rule{deny(Rule{Networks: []string{"0.0.0.0/0"}}), pub(Rule{Networks: []string{"::/0"}})}},
		{"different regexes", []Rule{deny(Rule{PathRegex: `/a/.*`}), pub(Rule{PathRegex: `/b/.*`})}},
		{"prefix then regex (not decided)", []Rule{deny(Rule{PathPrefix: "/a"}), pub(Rule{PathRegex: `/a/.*`})}},
		{"regex then prefix (not decided)", []Rule{deny(Rule{PathRegex: `/a(/.*)?`}), pub(Rule{PathPrefix: "/a"})}},
		{"two rules together cover (not detected)", []Rule{
			deny(Rule{Hosts: []string{"a.test"}}), deny(Rule{Hosts: []string{"b.test"}}), pub(Rule{Hosts: []string{"a.test", "b.test"}}),
		}},
	}
	for _, tt := range tests {
		if _, err := Compile(tt.rules); err != nil {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestPolicy_Rule(t *testing.T) {
	rules := []Rule{{PathPrefix: "/ops", Decision: DecisionAuthenticated, SecondFactor: true, MaxSessionAge: time.Hour, GroupsAny: []string{"ops"}}}
	p := mustCompile(t, rules)
	rules[0].GroupsAny[0] = "changed"
	got := p.Rule(0)
	if got.GroupsAny[0] != "ops" || !got.SecondFactor || got.MaxSessionAge != time.Hour {
		t.Errorf("Rule(0) = %+v", got)
	}
	got.GroupsAny[0] = "changed again"
	if p.Rule(0).GroupsAny[0] != "ops" {
		t.Error("Rule returns shared slices")
	}
	if o := p.Decide(req("/ops"), with(func(s *Subject) { s.Groups = []string{"ops"} }), now); o.Effect != Reauthenticate {
		t.Errorf("Decide = %+v; the policy changed with its input", o)
	}
}

func TestCompile_Empty(t *testing.T) {
	p := mustCompile(t, nil)
	if o := p.Decide(req("/"), alice(), now); o.Effect != Deny || o.RuleIndex != -1 {
		t.Errorf("empty policy: %+v", o)
	}
	var nilPolicy *Policy
	if o := nilPolicy.Decide(req("/"), alice(), now); o.Effect != Deny {
		t.Errorf("nil policy: %+v", o)
	}
}
