package policy

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// benchRules returns n rules shaped like a large real deployment: ten rules
// per app host (distinct hosts app0.example.com, app1.example.com, ...),
// each a path prefix with requirements, some limited to methods or
// networks; then a wildcard rule and two rules for every host (a public
// prefix and a regex). It also returns a request and subject that the
// last per-host rule — deep in the list — allows.
func benchRules(n int) ([]Rule, Request, *Subject) {
	const extras = 3
	var rules []Rule
	perHost := n - extras
	for i := range perHost {
		h, k := i/10, i%10
		r := Rule{
			Hosts:      []string{fmt.Sprintf("app%d.example.com", h)},
			PathPrefix: fmt.Sprintf("/team%d/app", k),
			Decision:   DecisionAuthenticated,
			GroupsAny:  []string{fmt.Sprintf("team%d", k), "admins"},
		}
		switch k % 4 {
		case 1:
			r.Methods = []string{"GET", "HEAD"}
		case 2:
			r.Networks = []string{"10.0.0.0/8", "192.0.2.0/24"}
		case 3:
			r.Scopes = []string{"read"}
			r.MaxSessionAge = 12 * time.Hour
		}
		rules = append(rules, r)
	}
	rules = append(rules,
		Rule{Hosts: []string{"*.internal.example.com"}, Networks: []string{"10.0.0.0/8"}, Decision: DecisionPublic},
		Rule{PathPrefix: "/.well-known/", Decision: DecisionPublic},
		Rule{PathRegex: `/metrics(/.*)?`, Decision: DecisionDeny},
	)
	last := perHost - 1
	req := Request{
		Host:     fmt.Sprintf("App%d.Example.com:443", last/10),
		Path:     fmt.Sprintf("/team%d/app/items/42", last%10),
		Method:   "GET",
		ClientIP: netip.MustParseAddr("192.0.2.10"),
	}
	sub := &Subject{Authenticated: true, UserID: "u1", Username: "alice",
		Groups: []string{"staff", fmt.Sprintf("team%d", last%10)}, Scopes: []string{"openid", "read"},
		AMR: []string{"pwd"}, AuthTime: now.Add(-time.Hour)}
	return rules, req, sub
}

func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			rules, r, sub := benchRules(n)
			p := mustCompile(b, rules)
			if o := p.Decide(r, sub, now); o.Effect != Allow || o.RuleIndex != n-4 {
				b.Fatalf("setup: %+v", o)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Decide(r, sub, now)
			}
		})
	}
}

func BenchmarkDecideParallel(b *testing.B) {
	rules, r, sub := benchRules(10000)
	p := mustCompile(b, rules)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			p.Decide(r, sub, now)
		}
	})
}

func BenchmarkCompile(b *testing.B) {
	rules, _, _ := benchRules(10000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(rules); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNormalizePath(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"canonical", "/team7/app/items/42"},
		{"dirty", "/team7//app/./x/../items/%34%32"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NormalizePath(tc.path); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
