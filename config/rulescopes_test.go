package config

import (
	"slices"
	"testing"
)

func TestRuleScopes(t *testing.T) {
	c := Default()
	c.OIDC.Scopes = []Scope{{Name: "api.read"}, {Name: "api.write"}, {Name: "unused"}}
	c.Gateway.Rules = []Rule{
		{Name: "a", Scopes: []string{"api.write", "undefined"}},
		{Name: "b", Scopes: []string{"api.read", "api.write"}},
		{Name: "c"},
	}
	got := c.RuleScopes()
	if want := []string{"api.write", "api.read"}; !slices.Equal(got, want) {
		t.Fatalf("RuleScopes() = %v, want %v (defined ones, once, in rule order)", got, want)
	}
	if got := Default().RuleScopes(); got != nil {
		t.Fatalf("no rules: %v", got)
	}
}
