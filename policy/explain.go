package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Step is one rule Explain looked at.
type Step struct {
	// RuleIndex is the rule's index; Rule names it (`rule 3 ("admin")`).
	RuleIndex int
	Rule      string
	// Matched is true for the rule that decided.
	Matched bool
	// Detail says why the rule did not match (the first match field that
	// failed) or, for the deciding rule, what matched.
	Detail string
	// Checks evaluates every requirement of the deciding rule, one line
	// each ("groups_any [admins]: no (groups [dev])"); empty for other
	// rules and for public and deny rules.
	Checks []string
}

// Explanation is the account of one decision.
type Explanation struct {
	// Steps lists the rules in order, up to and including the deciding
	// one (all of them when none matched).
	Steps []Step
	// Outcome is the decision, the same Decide returns.
	Outcome Outcome
}

// Explain decides like Decide and says why: which rules were looked at,
// why each earlier one did not match, what the deciding one matched and
// how its requirements came out. It tries every rule in order instead of
// using the index, so it is slower than Decide, and it serves as the
// reference the index is tested against.
func (p *Policy) Explain(req Request, sub *Subject, now time.Time) Explanation {
	if !canonical(req.Path) {
		return Explanation{Outcome: Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonBadPath}}
	}
	var e Explanation
	if p == nil {
		e.Outcome = Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonDefault}
		return e
	}
	var buf [maxHost]byte
	n, hostOK := hostKey(req.Host, &buf)
	host := string(buf[:n])
	ip := req.ClientIP.Unmap().WithZone("")
	path := stripParams(req.Path)
	for i := range p.rules {
		r := &p.rules[i]
		st := Step{RuleIndex: i, Rule: r.label}
		switch {
		case !r.anyHost && !(hostOK && r.matchHostName(host)):
			st.Detail = fmt.Sprintf("no match: host %q is not one of %v", req.Host, r.src.Hosts)
		case r.re != nil && !r.re.MatchString(path):
			st.Detail = fmt.Sprintf("no match: path %q does not match regex %q", path, r.src.PathRegex)
		case r.prefix != "" && !prefixMatch(r.prefix, path):
			st.Detail = fmt.Sprintf("no match: path %q is not under prefix %q", path, r.prefix)
		case !r.matchMethod(req.Method):
			st.Detail = fmt.Sprintf("no match: method %q is not one of %v", req.Method, r.methods)
		case !ip.IsValid() && len(r.nets) > 0:
			st.Detail = fmt.Sprintf("no match: client address unknown, rule needs one in %v", r.nets)
		case !r.matchNet(ip):
			st.Detail = fmt.Sprintf("no match: client address %v is not in %v", ip, r.nets)
		default:
			st.Matched = true
			st.Detail = "match: " + r.describeMatch()
			st.Checks = r.checks(sub, now)
			eff, why := r.decide(sub, now)
			e.Steps = append(e.Steps, st)
			e.Outcome = Outcome{Effect: eff, RuleIndex: i, Reason: why}
			return e
		}
		e.Steps = append(e.Steps, st)
	}
	e.Outcome = Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonDefault}
	return e
}

// String prints the explanation, one line per rule and requirement, then
// the decision.
func (e Explanation) String() string {
	var b strings.Builder
	for _, s := range e.Steps {
		fmt.Fprintf(&b, "%s: %s\n", s.Rule, s.Detail)
		for _, c := range s.Checks {
			fmt.Fprintf(&b, "    %s\n", c)
		}
	}
	fmt.Fprintf(&b, "decision: %s (%s)\n", e.Outcome.Effect, e.Outcome.Reason)
	return b.String()
}

func (r *rule) describeMatch() string {
	var parts []string
	if r.anyHost {
		parts = append(parts, "any host")
	} else {
		parts = append(parts, fmt.Sprintf("host in %v", r.src.Hosts))
	}
	switch {
	case r.re != nil:
		parts = append(parts, fmt.Sprintf("path matches regex %q", r.src.PathRegex))
	case r.prefix != "":
		parts = append(parts, fmt.Sprintf("path under %q", r.prefix))
	default:
		parts = append(parts, "any path")
	}
	if len(r.methods) == 0 {
		parts = append(parts, "any method")
	} else {
		parts = append(parts, fmt.Sprintf("method in %v", r.methods))
	}
	if len(r.nets) == 0 {
		parts = append(parts, "any network")
	} else {
		parts = append(parts, fmt.Sprintf("client in %v", r.nets))
	}
	return strings.Join(parts, ", ") + "; decision " + string(r.decision)
}

// checks evaluates each requirement of an authenticated rule, for people.
func (r *rule) checks(sub *Subject, now time.Time) []string {
	if r.decision != DecisionAuthenticated {
		return nil
	}
	yn := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	if sub == nil || !sub.Authenticated {
		return []string{"signed in: no"}
	}
	if sub.Service {
		c := []string{fmt.Sprintf("signed in: service client %q (client_credentials: no person)", sub.Client)}
		if len(r.clients) == 0 {
			c = append(c, "clients: none listed: no (a service client passes only a rule that lists it in clients)")
		} else {
			c = append(c, fmt.Sprintf("clients %v: %s", r.clients, yn(slices.Contains(r.clients, sub.Client))))
		}
		if len(r.scopes) > 0 {
			c = append(c, fmt.Sprintf("scopes %v: %s (missing %v)", r.scopes, yn(allIn(r.scopes, sub.Scopes)), missing(r.scopes, sub.Scopes)))
		}
		for _, x := range []struct {
			set  bool
			name string
		}{{len(r.groupsAll) > 0, "groups_all"}, {r.secondFactor, "second_factor"}, {r.maxAge > 0, "max_session_age"}} {
			if x.set {
				c = append(c, x.name+": no (a service client has no person to meet it)")
			}
		}
		return c
	}
	c := []string{fmt.Sprintf("signed in: yes (user %q, id %q)", sub.Username, sub.UserID)}
	if r.hasWho() {
		var alt []string
		if len(r.users) > 0 {
			alt = append(alt, fmt.Sprintf("users %v: %s", r.users, yn(r.userOK(sub))))
		}
		if len(r.groupsAny) > 0 {
			alt = append(alt, fmt.Sprintf("groups_any %v: %s (groups %v)", r.groupsAny, yn(anyIn(r.groupsAny, sub.Groups)), sub.Groups))
		}
		if len(r.domains) > 0 {
			alt = append(alt, fmt.Sprintf("email_domains %v: %s (e-mail %q, verified %t)", r.domains,
				yn(sub.EmailVerified && r.domainOK(sub.Email)), sub.Email, sub.EmailVerified))
		}
		if len(r.clients) > 0 {
			alt = append(alt, fmt.Sprintf("clients %v: no (a person, not a service client)", r.clients))
		}
		kinds := "users, groups_any, email_domains"
		if len(r.clients) > 0 {
			kinds += ", clients"
		}
		c = append(c, fmt.Sprintf("one of %s: %s", kinds, yn(r.whoOK(sub))))
		for _, a := range alt {
			c = append(c, "  "+a)
		}
	}
	if len(r.groupsAll) > 0 {
		c = append(c, fmt.Sprintf("groups_all %v: %s (missing %v)", r.groupsAll, yn(allIn(r.groupsAll, sub.Groups)), missing(r.groupsAll, sub.Groups)))
	}
	if len(r.scopes) > 0 {
		c = append(c, fmt.Sprintf("scopes %v: %s (missing %v)", r.scopes, yn(allIn(r.scopes, sub.Scopes)), missing(r.scopes, sub.Scopes)))
	}
	if r.secondFactor {
		c = append(c, fmt.Sprintf("second_factor: %s (amr %v)", yn(HasSecondFactor(sub.AMR)), sub.AMR))
	}
	if r.maxAge > 0 {
		age := "never"
		if !sub.AuthTime.IsZero() {
			age = now.Sub(sub.AuthTime).Round(time.Second).String() + " ago"
		}
		c = append(c, fmt.Sprintf("max_session_age %v: %s (signed in %s)", r.maxAge, yn(r.fresh(sub.AuthTime, now)), age))
	}
	return c
}

// missing returns the items of want that are not in have.
func missing(want, have []string) []string {
	var m []string
	for _, w := range want {
		if !slices.Contains(have, w) {
			m = append(m, w)
		}
	}
	return m
}
