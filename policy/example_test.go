package policy_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/gatehouse-sso/gatehouse/policy"
)

func Example() {
	p, err := policy.Compile([]policy.Rule{
		{Hosts: []string{"*.example.com"}, PathPrefix: "/admin", Decision: policy.DecisionAuthenticated,
			GroupsAny: []string{"admins"}, SecondFactor: true},
		{PathPrefix: "/static/", Decision: policy.DecisionPublic},
		{Hosts: []string{"app.example.com"}, Decision: policy.DecisionAuthenticated},
	})
	if err != nil {
		panic(err)
	}
	// The proxy normalises the escaped path once; the result is what it
	// decides on and what it forwards.
	path, err := policy.NormalizePath("/static/%2e%2e//admin/./users")
	if err != nil {
		fmt.Println("400:", err)
		return
	}
	now := time.Now()
	sub := &policy.Subject{Authenticated: true, Username: "alice", Groups: []string{"admins"},
		AMR: []string{"pwd"}, AuthTime: now.Add(-time.Minute)}
	out := p.Decide(policy.Request{Host: "app.example.com", Path: path, Method: "GET",
		ClientIP: netip.MustParseAddr("192.0.2.1")}, sub, now)
	fmt.Println(path, out.Effect, out.RuleIndex, out.Reason)

	_, err = policy.NormalizePath("/static/..%2Fadmin")
	fmt.Println(err)
	// Output:
	// /admin/users reauthenticate 0 rule 0: second factor required
	// bad request path: encoded slash (%2F)
}

func ExampleCompile() {
	_, err := policy.Compile([]policy.Rule{
		{Decision: policy.DecisionPublic},
		{Hosts: []string{"a.*.com"}, Decision: policy.DecisionDeny},
		{PathPrefix: "/admin", Decision: policy.DecisionDeny},
	})
	fmt.Println(err)
	// Output:
	// rule 1: hosts[0]: "a.*.com" is not a valid wildcard: "*" may only be the whole first label, like "*.example.com"
}

func ExamplePolicy_Explain() {
	p, _ := policy.Compile([]policy.Rule{
		{Name: "health", PathPrefix: "/healthz", Decision: policy.DecisionPublic},
		{Hosts: []string{"app.example.com"}, PathPrefix: "/admin", Decision: policy.DecisionAuthenticated,
			GroupsAny: []string{"admins"}},
	})
	sub := &policy.Subject{Authenticated: true, UserID: "u1", Username: "alice", Groups: []string{"dev"}}
	fmt.Print(p.Explain(policy.Request{Host: "app.example.com", Path: "/admin", Method: "POST"}, sub, time.Now()))
	// Output:
	// rule 0 ("health"): no match: path "/admin" is not under prefix "/healthz"
	// rule 1: match: host in [app.example.com], path under "/admin", any method, any network; decision authenticated
	//     signed in: yes (user "alice", id "u1")
	//     one of users, groups_any, email_domains: no
	//       groups_any [admins]: no (groups [dev])
	// decision: deny (rule 1: user not in any of groups [admins])
}
