package idp

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-sso/gatehouse/identity"
)

// Built-in scopes.
const (
	scopeOpenID        = "openid"
	scopeProfile       = "profile"
	scopeEmail         = "email"
	scopeGroups        = "groups"
	scopeOfflineAccess = "offline_access"
)

// standardClaims maps each standard claim Gatehouse can release to its
// value for a user (ok=false: the user has no value, omit it).
var standardClaims = map[string]func(u identity.User) (any, bool){
	"name":               func(u identity.User) (any, bool) { return u.Name, u.Name != "" },
	"given_name":         func(u identity.User) (any, bool) { return u.GivenName, u.GivenName != "" },
	"family_name":        func(u identity.User) (any, bool) { return u.FamilyName, u.FamilyName != "" },
	"picture":            func(u identity.User) (any, bool) { return u.Picture, u.Picture != "" },
	"preferred_username": func(u identity.User) (any, bool) { return u.Username, u.Username != "" },
	"updated_at": func(u identity.User) (any, bool) {
		t := u.UpdatedAt
		if t.IsZero() {
			t = u.CreatedAt
		}
		return t.Unix(), !t.IsZero()
	},
	"email":          func(u identity.User) (any, bool) { return u.Email, u.Email != "" },
	"email_verified": func(u identity.User) (any, bool) { return u.EmailVerified, u.Email != "" },
	"groups": func(u identity.User) (any, bool) {
		if u.Groups == nil {
			return []string{}, true
		}
		return u.Groups, true
	},
}

// protocolClaims are the claims of the tokens themselves.
var protocolClaims = []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid", "at_hash"}

// scopeDef is one scope: its consent text and the claims it releases.
type scopeDef struct {
	name        string
	description string
	claims      []string
}

// scopeTable holds the built-in and configured scopes and custom claims.
type scopeTable struct {
	defs   map[string]*scopeDef
	order  []string // for discovery
	custom map[string]Claim
}

func newScopeTable(scopes []Scope, claims []Claim) (*scopeTable, error) {
	t := &scopeTable{defs: map[string]*scopeDef{}, custom: map[string]Claim{}}
	add := func(d *scopeDef) { t.defs[d.name] = d; t.order = append(t.order, d.name) }
	add(&scopeDef{name: scopeOpenID, description: "Sign you in and know your account identifier"})
	add(&scopeDef{name: scopeProfile, description: "See your name, username and picture",
		claims: []string{"name", "given_name", "family_name", "picture", "preferred_username", "updated_at"}})
	add(&scopeDef{name: scopeEmail, description: "See your e-mail address", claims: []string{"email", "email_verified"}})
	add(&scopeDef{name: scopeGroups, description: "See the groups you belong to", claims: []string{"groups"}})
	add(&scopeDef{name: scopeOfflineAccess, description: "Stay connected to your account while you are away"})
	for _, c := range claims {
		if c.Name == "" {
			return nil, fmt.Errorf("idp: custom claim without a name")
		}
		if _, ok := standardClaims[c.Name]; ok || slices.Contains(protocolClaims, c.Name) {
			return nil, fmt.Errorf("idp: custom claim %q shadows a standard claim", c.Name)
		}
		if _, dup := t.custom[c.Name]; dup {
			return nil, fmt.Errorf("idp: custom claim %q defined twice", c.Name)
		}
		t.custom[c.Name] = c
	}
	listed := map[string]bool{}
	for _, s := range scopes {
		for _, name := range s.Claims {
			_, std := standardClaims[name]
			_, cus := t.custom[name]
			if !std && !cus {
				return nil, fmt.Errorf("idp: scope %q releases unknown claim %q", s.Name, name)
			}
			listed[name] = true
		}
		if d, ok := t.defs[s.Name]; ok {
			if s.Name == scopeOfflineAccess {
				return nil, fmt.Errorf("idp: scope %q cannot release claims", s.Name)
			}
			d.claims = append(d.claims, s.Claims...)
			if s.Description != "" {
				d.description = s.Description
			}
			continue
		}
		if s.Name == "" || strings.ContainsAny(s.Name, " \"\\") {
			return nil, fmt.Errorf("idp: invalid scope name %q", s.Name)
		}
		desc := s.Description
		if desc == "" {
			desc = "Use the " + s.Name + " permission"
		}
		add(&scopeDef{name: s.Name, description: desc, claims: slices.Clone(s.Claims)})
	}
	// A custom claim no scope lists goes with openid: every signed-in
	// client sees it (kuploy's kuploy_hub_admin needs no extra scope).
	for _, c := range claims {
		if !listed[c.Name] {
			t.defs[scopeOpenID].claims = append(t.defs[scopeOpenID].claims, c.Name)
		}
	}
	return t, nil
}

// known reports whether s is a scope this provider knows.
func (t *scopeTable) known(s string) bool {
	_, ok := t.defs[s]
	return ok
}

// names lists every scope, built-ins first.
func (t *scopeTable) names() []string { return slices.Clone(t.order) }

// claimNames lists every claim the provider may release.
func (t *scopeTable) claimNames() []string {
	out := slices.Clone(protocolClaims)
	seen := map[string]bool{}
	for _, n := range out {
		seen[n] = true
	}
	for _, s := range t.order {
		for _, c := range t.defs[s].claims {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// describe returns the consent-page text of scope s.
func (t *scopeTable) describe(s string) string {
	if d, ok := t.defs[s]; ok {
		return d.description
	}
	return s
}

// userClaims computes, live, the claims scopes release about u into dst.
func (t *scopeTable) userClaims(dst map[string]any, u identity.User, scopes []string) {
	for _, s := range scopes {
		d, ok := t.defs[s]
		if !ok {
			continue
		}
		for _, name := range d.claims {
			if f, ok := standardClaims[name]; ok {
				if v, ok := f(u); ok {
					dst[name] = v
				}
				continue
			}
			if c, ok := t.custom[name]; ok {
				if v, ok := evalClaim(c, u); ok {
					dst[name] = v
				}
			}
		}
	}
}

// evalClaim computes a custom claim for u.
func evalClaim(c Claim, u identity.User) (any, bool) {
	if len(c.AnyGroup) > 0 {
		for _, g := range c.AnyGroup {
			if u.InGroup(g) {
				return true, true
			}
		}
		return false, true
	}
	if c.Attribute == "" {
		return nil, false
	}
	v, ok := attribute(u.Attributes, c.Attribute)
	if c.Equals != "" {
		return ok && fmt.Sprint(v) == c.Equals, true
	}
	return v, ok
}

// attribute looks name up in attrs, then, for a dotted name, walks nested
// maps.
func attribute(attrs map[string]any, name string) (any, bool) {
	if v, ok := attrs[name]; ok {
		return v, true
	}
	cur := any(attrs)
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// joinScopes and splitScopes convert between the scope parameter and a
// deduplicated list in request order.
func splitScopes(s string) []string {
	var out []string
	for _, f := range strings.Split(s, " ") {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func joinScopes(s []string) string { return strings.Join(s, " ") }
