package config

import (
	"errors"

	"github.com/gatehouse-sso/gatehouse/policy"
)

// PolicyRules converts gateway.rules for policy.Compile.
func PolicyRules(rules []Rule) []policy.Rule {
	out := make([]policy.Rule, 0, len(rules))
	for _, r := range rules {
		out = append(out, policy.Rule{
			Name: r.Name, Hosts: r.Hosts, PathPrefix: r.PathPrefix, PathRegex: r.PathRegex,
			Methods: r.Methods, Networks: r.Networks, Decision: policy.Decision(r.Decision),
			Users: r.Users, GroupsAny: r.GroupsAny, GroupsAll: r.GroupsAll,
			EmailDomains: r.EmailDomains, Clients: r.Clients, Scopes: r.Scopes, SecondFactor: r.SecondFactor,
			MaxSessionAge: r.MaxSessionAge.D(),
		})
	}
	return out
}

// CompilePolicy compiles gateway.rules into the policy the gateway
// enforces. Its error is Errors of *FieldError naming each rule's field
// ("gateway.rules[3].hosts[0]: ...").
func CompilePolicy(rules []Rule) (*policy.Policy, error) {
	p, err := policy.Compile(PolicyRules(rules))
	if err == nil {
		return p, nil
	}
	var errs Errors
	for _, e := range leaves(err) {
		var re *policy.RuleError
		if !errors.As(e, &re) {
			errs = append(errs, &FieldError{Path: "gateway.rules", Err: e})
			continue
		}
		path := indexPath("gateway.rules", re.Index)
		if re.Field != "" {
			path += "." + re.Field
		}
		errs = append(errs, &FieldError{Path: path, Err: errors.New(re.Msg)})
	}
	return nil, errs
}

// leaves unwraps joined errors into their leaves.
func leaves(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	return []error{err}
}
