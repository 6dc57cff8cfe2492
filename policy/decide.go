package policy

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Decide decides a request: the first rule whose match fields all match
// it decides, and when none does the request is denied (RuleIndex -1).
// A public rule allows, a deny rule denies, and an authenticated rule asks
// for a signed-in subject (NeedLogin if sub is nil or not authenticated)
// that meets every requirement (Deny if one fails — the user, group,
// e-mail domain and scope checks come first — and Reauthenticate if only
// the second factor or the session age is missing). now is compared with
// sub.AuthTime.
//
// req.Path must be the output of NormalizePath; any other path is denied.
// Decide does not allocate (except for a PathRegex rule on a path with
// matrix parameters) and may be called concurrently.
func (p *Policy) Decide(req Request, sub *Subject, now time.Time) Outcome {
	if !canonical(req.Path) {
		return Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonBadPath}
	}
	if p == nil {
		return Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonDefault}
	}
	i := p.match(&req)
	if i < 0 {
		return Outcome{Effect: Deny, RuleIndex: -1, Reason: reasonDefault}
	}
	r := &p.rules[i]
	eff, why := r.decide(sub, now)
	return Outcome{Effect: eff, RuleIndex: i, Reason: why}
}

// matcher finds the first rule matching one request through the index.
type matcher struct {
	rules  []rule
	path   string
	method string
	ip     netip.Addr
	rxPath string // path without matrix parameters, for regex rules
	rxDone bool
	best   int // smallest matching rule index so far, len(rules) if none
}

func (p *Policy) match(req *Request) int {
	m := matcher{
		rules:  p.rules,
		path:   req.Path,
		method: req.Method,
		ip:     req.ClientIP.Unmap().WithZone(""),
		best:   len(p.rules),
	}
	var buf [maxHost]byte
	if n, ok := hostKey(req.Host, &buf); ok {
		h := buf[:n]
		if b := p.exact[string(h)]; b != nil {
			m.bucket(b)
		}
		for i, c := range h {
			if c == '.' && i > 0 { // a wildcard needs a label before its suffix
				if b := p.wild[string(h[i+1:])]; b != nil {
					m.bucket(b)
				}
			}
		}
	}
	if p.any != nil {
		m.bucket(p.any)
	}
	if m.best == len(p.rules) {
		return -1
	}
	return m.best
}

func (m *matcher) bucket(b *bucket) {
	n := &b.root
	m.scan(n.here)
	rest := m.path[1:]
	for n.children != nil {
		seg, after, more := strings.Cut(rest, "/")
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		c := n.children[seg]
		if c == nil {
			break
		}
		m.scan(c.here)
		if !more {
			break
		}
		m.scan(c.below)
		n, rest = c, after
	}
	if len(b.regex) > 0 {
		m.scanRegex(b.regex)
	}
}

// scan checks, in order, the rules of a list whose host and path already
// match, stopping at the first that matches or at an index not smaller
// than the best so far.
func (m *matcher) scan(list []int32) {
	for _, i := range list {
		if int(i) >= m.best {
			return
		}
		r := &m.rules[i]
		if r.matchMethod(m.method) && r.matchNet(m.ip) {
			m.best = int(i)
			return
		}
	}
}

func (m *matcher) scanRegex(list []int32) {
	for _, i := range list {
		if int(i) >= m.best {
			return
		}
		r := &m.rules[i]
		if !r.matchMethod(m.method) || !r.matchNet(m.ip) {
			continue
		}
		if !m.rxDone {
			m.rxPath, m.rxDone = stripParams(m.path), true
		}
		if r.re.MatchString(m.rxPath) {
			m.best = int(i)
			return
		}
	}
}

// decide applies a matching rule to the subject.
func (r *rule) decide(sub *Subject, now time.Time) (Effect, string) {
	switch r.decision {
	case DecisionPublic:
		return Allow, r.why.match
	case DecisionDeny:
		return Deny, r.why.match
	}
	if sub == nil || !sub.Authenticated {
		return NeedLogin, r.why.login
	}
	if sub.Service {
		return r.decideService(sub)
	}
	if r.hasWho() && !r.whoOK(sub) {
		return Deny, r.why.who
	}
	if len(r.groupsAll) > 0 && !allIn(r.groupsAll, sub.Groups) {
		return Deny, r.why.groupsAll
	}
	if len(r.scopes) > 0 && !allIn(r.scopes, sub.Scopes) {
		return Deny, r.why.scopes
	}
	if r.secondFactor && !HasSecondFactor(sub.AMR) {
		return Reauthenticate, r.why.second
	}
	if r.maxAge > 0 && !r.fresh(sub.AuthTime, now) {
		return Reauthenticate, r.why.age
	}
	return Allow, r.why.allow
}

// decideService applies an authenticated rule to a service client: it
// must be listed in Clients, and the requirements about a person
// (GroupsAll, SecondFactor, MaxSessionAge), which it cannot meet, deny it
// rather than send it to sign in.
func (r *rule) decideService(sub *Subject) (Effect, string) {
	switch {
	case !slices.Contains(r.clients, sub.Client):
		return Deny, r.why.service
	case len(r.groupsAll) > 0:
		return Deny, r.why.groupsAll
	case len(r.scopes) > 0 && !allIn(r.scopes, sub.Scopes):
		return Deny, r.why.scopes
	case r.secondFactor:
		return Deny, r.why.second
	case r.maxAge > 0:
		return Deny, r.why.age
	}
	return Allow, r.why.allow
}

// hasWho reports whether the rule lists who may pass: Users, GroupsAny,
// EmailDomains or Clients.
func (r *rule) hasWho() bool {
	return len(r.users) > 0 || len(r.groupsAny) > 0 || len(r.domains) > 0 || len(r.clients) > 0
}

// whoOK reports whether sub, a person, is one of the users, in one of the
// groups, or has a verified e-mail address in one of the domains.
func (r *rule) whoOK(sub *Subject) bool {
	return r.userOK(sub) || anyIn(r.groupsAny, sub.Groups) || sub.EmailVerified && r.domainOK(sub.Email)
}

func (r *rule) userOK(sub *Subject) bool {
	for _, u := range r.users {
		if u == sub.UserID && u != "" || sub.Username != "" && strings.EqualFold(u, sub.Username) {
			return true
		}
	}
	return false
}

func (r *rule) domainOK(email string) bool {
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return false
	}
	d := strings.TrimSuffix(email[at+1:], ".")
	for _, e := range r.domains {
		if strings.EqualFold(e, d) {
			return true
		}
	}
	return false
}

func (r *rule) fresh(authTime, now time.Time) bool {
	return !authTime.IsZero() && now.Sub(authTime) <= r.maxAge
}

// anyIn reports whether have holds one of want.
func anyIn(want, have []string) bool {
	for _, w := range want {
		if slices.Contains(have, w) {
			return true
		}
	}
	return false
}

// allIn reports whether have holds every one of want.
func allIn(want, have []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
