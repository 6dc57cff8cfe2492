package config

import "github.com/gatehouse-sso/gatehouse/policy"

// PolicyRules converts gateway.rules for policy.Compile.
func PolicyRules(rules []Rule) []policy.Rule {
	out := make([]policy.Rule, 0, len(rules))
	for _, r := range rules {
		out = append(out, policy.Rule{
			Name: r.Name, Hosts: r.Hosts, PathPrefix: r.PathPrefix, PathRegex: r.PathRegex,
			Methods: r.Methods, Networks: r.Networks, Decision: policy.Decision(r.Decision),
			Users: r.Users, GroupsAny: r.GroupsAny, GroupsAll: r.GroupsAll,
			EmailDomains: r.EmailDomains, Scopes: r.Scopes, SecondFactor: r.SecondFactor,
			MaxSessionAge: r.MaxSessionAge.D(),
		})
	}
	return out
}
