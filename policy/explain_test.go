package policy

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestExplain(t *testing.T) {
	p := mustCompile(t, []Rule{
		{Name: "api", Hosts: []string{"api.example.com"}, Decision: DecisionPublic},
		{PathPrefix: "/public", Decision: DecisionPublic},
		{PathRegex: `/static/.*`, Decision: DecisionPublic},
		{Methods: []string{"DELETE"}, Decision: DecisionDeny},
		{Networks: []string{"10.0.0.0/8"}, PathPrefix: "/internal", Decision: DecisionPublic},
		{Name: "admin", Hosts: []string{"*.example.com"}, PathPrefix: "/admin", Decision: DecisionAuthenticated,
			GroupsAny: []string{"admins"}, Users: []string{"bob"}, GroupsAll: []string{"staff"}, SecondFactor: true, MaxSessionAge: time.Hour},
	})
	e := p.Explain(req("POST /admin/users"), alice(), now)
	want := `rule 0 ("api"): no match: host "app.example.com" is not one of [api.example.com]
rule 1: no match: path "/admin/users" is not under prefix "/public"
rule 2: no match: path "/admin/users" does not match regex "/static/.*"
rule 3: no match: method "POST" is not one of [DELETE]
rule 4: no match: path "/admin/users" is not under prefix "/internal"
rule 5 ("admin"): match: host in [*.example.com], path under "/admin", any method, any network; decision authenticated
    signed in: yes (user "alice", id "u_alice")
    one of users, groups_any, email_domains: no
      users [bob]: no
      groups_any [admins]: no (groups [dev staff])
    groups_all [staff]: yes (missing [])
    second_factor: no (amr [pwd])
    max_session_age 1h0m0s: yes (signed in 30m0s ago)
decision: deny (rule 5 ("admin"): user not one of users [bob], not in any of groups [admins])
`
	if got := e.String(); got != want {
		t.Errorf("Explain:\n%s\nwant:\n%s", got, want)
	}
	if len(e.Steps) != 6 || !e.Steps[5].Matched || e.Steps[4].Matched {
		t.Errorf("steps: %+v", e.Steps)
	}

	e = p.Explain(withReq(func(r *Request) { r.Path = "/internal/x" }), nil, now)
	if got := e.Steps[4].Detail; got != "no match: client address 192.0.2.1 is not in [10.0.0.0/8]" {
		t.Errorf("network step: %q", got)
	}
	if e.Outcome.RuleIndex != -1 || !strings.HasSuffix(e.String(), "decision: deny (no rule matched: default deny)\n") {
		t.Errorf("default deny:\n%s", e)
	}

	e = p.Explain(req("/a/../b"), nil, now)
	if e.Outcome.Reason != reasonBadPath || len(e.Steps) != 0 {
		t.Errorf("unnormalised path: %+v", e)
	}
}

// TestDecide_MatchesExplain compares the index (Decide) with the plain
// in-order scan (Explain) on random policies and requests.
func TestDecide_MatchesExplain(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(list []string) string { return list[rng.IntN(len(list))] }
	hostPool := []string{"a.example.com", "b.example.com", "*.example.com", "*.a.example.com", "x.a.example.com", "example.com", "other.test"}
	prefixPool := []string{"/", "/a", "/a/", "/a/b", "/a/b/", "/b", "/a/b/c", "/c"}
	regexPool := []string{`/a/.*`, `/b(/.*)?`, `.*c`, `/a/b`}
	methodPool := []string{"GET", "POST", "DELETE"}
	netPool := []string{"10.0.0.0/8", "10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32", "::ffff:10.0.0.0/104"}
	decisions := []Decision{DecisionPublic, DecisionDeny, DecisionAuthenticated}
	reqHosts := []string{"a.example.com", "B.example.com:443", "x.a.example.com", "y.x.a.example.com", "example.com", "other.test", "[::1]", "c.example.com."}
	reqPaths := []string{"/", "/a", "/a/", "/a/b", "/a;x/b;y", "/a/b/", "/a/b/c", "/a/bc", "/b", "/b/x", "/c", "/xc", "/a/;p"}
	reqIPs := []string{"10.1.2.3", "10.2.0.1", "192.0.2.9", "2001:db8::5", "::ffff:10.1.0.1", "203.0.113.1"}
	subs := []*Subject{nil, alice(), with(func(s *Subject) { s.Groups = []string{"g1"} })}

	randomRule := func() Rule {
		var r Rule
		for range rng.IntN(3) {
			r.Hosts = append(r.Hosts, pick(hostPool))
		}
		switch rng.IntN(3) {
		case 0:
			r.PathPrefix = pick(prefixPool)
		case 1:
			r.PathRegex = pick(regexPool)
		}
		for range rng.IntN(3) {
			r.Methods = append(r.Methods, pick(methodPool))
		}
		for range rng.IntN(2) {
			r.Networks = append(r.Networks, pick(netPool))
		}
		r.Decision = decisions[rng.IntN(len(decisions))]
		if r.Decision == DecisionAuthenticated && rng.IntN(2) == 0 {
			r.GroupsAny = []string{"g1"}
		}
		return r
	}
	checked, decided, nrules, unreachable := 0, 0, 0, 0
	effects := map[Effect]int{}
	for range 300 {
		var rules []Rule
		for range 1 + rng.IntN(25) {
			try := append(rules[:len(rules):len(rules)], randomRule())
			_, err := Compile(try)
			if err == nil {
				rules = try
				continue
			}
			// Refused as unreachable: check on sample requests that the
			// new rule would indeed never decide.
			if strings.Contains(err.Error(), "unreachable") {
				unreachable++
				q, cerr := compile(try, false)
				if cerr != nil {
					t.Fatalf("compile without the check: %v", cerr)
				}
				for range 200 {
					r := Request{Host: pick(reqHosts), Path: pick(reqPaths), Method: pick(methodPool), ClientIP: netip.MustParseAddr(pick(reqIPs))}
					if o := q.Explain(r, nil, now).Outcome; o.RuleIndex == len(try)-1 {
						t.Fatalf("rule %d refused as unreachable (%v) but decides %+v\nrules %+v", len(try)-1, err, r, try)
					}
				}
			}
		}
		p := mustCompile(t, rules)
		for range 100 {
			r := Request{Host: pick(reqHosts), Path: pick(reqPaths), Method: pick(methodPool), ClientIP: netip.MustParseAddr(pick(reqIPs))}
			sub := subs[rng.IntN(len(subs))]
			got := p.Decide(r, sub, now)
			want := p.Explain(r, sub, now).Outcome
			if got != want {
				t.Fatalf("rules %+v\nrequest %+v\nDecide %+v\nExplain %+v", rules, r, got, want)
			}
			checked++
			effects[got.Effect]++
			if got.RuleIndex >= 0 {
				decided++
			}
		}
		nrules += len(rules)
	}
	t.Logf("%d decisions compared (%d by a rule; effects %v), %.1f rules per policy; %d rules refused as unreachable and checked",
		checked, decided, effects, float64(nrules)/300, unreachable)
}

// FuzzDecide compares the index with the in-order scan on arbitrary hosts,
// paths and methods.
func FuzzDecide(f *testing.F) {
	p := mustCompile(f, []Rule{
		{Hosts: []string{"a.example.com"}, PathPrefix: "/a/b", Decision: DecisionDeny},
		{Hosts: []string{"*.example.com"}, PathPrefix: "/a/", Methods: []string{"GET"}, Decision: DecisionPublic},
		{Hosts: []string{"*.a.example.com", "example.com"}, PathRegex: `/x.*`, Decision: DecisionDeny},
		{PathPrefix: "/a", Networks: []string{"10.0.0.0/8"}, Decision: DecisionAuthenticated},
		{Hosts: []string{"b.example.com"}, Decision: DecisionPublic},
		{PathRegex: `(?i)/admin(/.*)?`, Decision: DecisionDeny},
		{PathPrefix: "/", Methods: []string{"POST"}, Decision: DecisionPublic},
	})
	f.Add("a.example.com", "/a/b;x/c", "GET", "10.0.0.1")
	f.Add("x.a.example.com.", "/x/y", "get", "::ffff:10.0.0.1")
	f.Add("B.EXAMPLE.COM:80", "/ADMIN", "POST", "")
	f.Add(".example.com", "/a/", "GET", "192.0.2.1")
	f.Fuzz(func(t *testing.T, host, path, method, ip string) {
		addr, _ := netip.ParseAddr(ip)
		r := Request{Host: host, Path: path, Method: method, ClientIP: addr}
		got := p.Decide(r, alice(), now)
		want := p.Explain(r, alice(), now).Outcome
		if got != want {
			t.Fatalf("request %+v: Decide %+v, Explain %+v", r, got, want)
		}
	})
}
