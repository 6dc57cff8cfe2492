package policy

import (
	"fmt"
	"net/netip"
	"strings"
)

// The index. Rules are filed under host keys — an exact host, the suffix
// of a wildcard, or the any-host bucket — and, inside each, in a trie of
// path segments (prefix rules) or a list (regex rules and rules without a
// path). Every list holds rule indices in ascending order. A request
// visits the buckets its host can be in (the exact one, one per label of
// its name for wildcards, the any-host one), walks each trie along its own
// segments, and scans the lists it meets, keeping the smallest index that
// matches: the work depends on the request's host and path depth and on
// the rules that share them, not on the number of rules.

// bucket holds the rules of one host key.
type bucket struct {
	root  node
	regex []int32 // rules with PathRegex
}

// node is a trie node: the path prefix made of the segments from the root.
type node struct {
	children map[string]*node
	here     []int32 // prefixes ending here: "/a/b" (at the root: no path constraint)
	below    []int32 // prefixes ending here with a "/": "/a/b/"
}

func (n *node) child(seg string) *node {
	if c := n.children[seg]; c != nil {
		return c
	}
	if n.children == nil {
		n.children = make(map[string]*node)
	}
	c := &node{}
	n.children[seg] = c
	return c
}

// add files rule i; rules must be added in order.
func (p *Policy) add(i int32) {
	r := &p.rules[i]
	if r.anyHost {
		if p.any == nil {
			p.any = &bucket{}
		}
		p.any.add(i, r)
	}
	for _, h := range r.exact {
		bucketFor(p.exact, h).add(i, r)
	}
	for _, s := range r.wild {
		bucketFor(p.wild, s).add(i, r)
	}
}

func bucketFor(m map[string]*bucket, key string) *bucket {
	b := m[key]
	if b == nil {
		b = &bucket{}
		m[key] = b
	}
	return b
}

func (b *bucket) add(i int32, r *rule) {
	if r.re != nil {
		b.regex = append(b.regex, i)
		return
	}
	n := &b.root
	if r.prefix == "" {
		n.here = append(n.here, i)
		return
	}
	segs, below := strings.CutSuffix(r.prefix[1:], "/")
	for seg := range strings.SplitSeq(segs, "/") {
		n = n.child(seg)
	}
	if below {
		n.below = append(n.below, i)
	} else {
		n.here = append(n.here, i)
	}
}

// walk calls scan with every list of n's trie that holds prefix rules
// matching path (canonical, without matrix parameters). Decide has its own
// copy of this loop, in matcher.bucket, to keep the hot path free of
// indirect calls.
func walk(n *node, path string, scan func([]int32)) {
	scan(n.here)
	rest := path[1:]
	for n.children != nil {
		seg, after, more := strings.Cut(rest, "/")
		c := n.children[seg]
		if c == nil {
			return
		}
		scan(c.here)
		if !more {
			return
		}
		scan(c.below)
		n, rest = c, after
	}
}

// maxHost is the longest host name the index can hold.
const maxHost = 253

// hostKey writes the lookup form of host into buf (lower case, without
// port and trailing dot) and returns its length; ok is false when host
// cannot be the name of any rule's host.
func hostKey(host string, buf *[maxHost]byte) (n int, ok bool) {
	if host == "" || host[0] == '[' { // IPv6 literal: no rule names one
		return 0, false
	}
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		for j := i + 1; j < len(host); j++ {
			if host[j] < '0' || host[j] > '9' {
				return 0, false
			}
		}
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" || len(host) > maxHost {
		return 0, false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return len(host), true
}

// NormalizeHost returns host as the policy compares it: lower case,
// without a port or a trailing dot. ok is false when it is not a host name
// or IPv4 address (an IPv6 literal, for example), which only rules without
// Hosts match. A proxy that routes by host should route on this form, so
// routing and policy agree.
func NormalizeHost(host string) (name string, ok bool) {
	var buf [maxHost]byte
	n, ok := hostKey(host, &buf)
	if !ok || !validHostName(string(buf[:n])) {
		return "", false
	}
	return string(buf[:n]), true
}

// unreachable returns an error for every rule an earlier rule covers.
func (p *Policy) unreachable() []error {
	var errs []error
	for j := range p.rules {
		if a := p.coveredBy(j); a >= 0 {
			b := &p.rules[j]
			errs = append(errs, &RuleError{Index: j, Name: b.src.Name,
				Msg: fmt.Sprintf("unreachable: %s matches every request it would match", p.rules[a].label)})
		}
	}
	return errs
}

// coveredBy returns the first rule before rule j that matches every request
// rule j matches, or -1. The index narrows the search to the rules that
// share j's first host and could cover its path; covers decides.
func (p *Policy) coveredBy(j int) int {
	b := &p.rules[j]
	best := j
	scan := func(list []int32) {
		for _, i := range list {
			if int(i) >= best {
				return
			}
			if covers(&p.rules[i], b) {
				best = int(i)
				return
			}
		}
	}
	visit := func(bk *bucket) {
		if bk == nil {
			return
		}
		switch {
		case b.re != nil:
			scan(bk.root.here)
			scan(bk.regex)
		case b.prefix == "":
			scan(bk.root.here)
		default:
			walk(&bk.root, b.prefix, scan)
		}
	}
	visitWild := func(name string) {
		for i := 0; i < len(name); i++ {
			if name[i] == '.' {
				visit(p.wild[name[i+1:]])
			}
		}
	}
	visit(p.any)
	switch {
	case b.anyHost: // only any-host rules can cover it
	case len(b.exact) > 0:
		visit(p.exact[b.exact[0]])
		visitWild(b.exact[0])
	default:
		visit(p.wild[b.wild[0]])
		visitWild(b.wild[0])
	}
	if best == j {
		return -1
	}
	return best
}

// covers reports whether rule a matches every request rule b matches.
func covers(a, b *rule) bool {
	return hostsCover(a, b) && pathCovers(a, b) && methodsCover(a, b) && netsCover(a, b)
}

func hostsCover(a, b *rule) bool {
	if a.anyHost {
		return true
	}
	if b.anyHost {
		return false
	}
	for _, h := range b.exact {
		if !a.matchHostName(h) {
			return false
		}
	}
	for _, t := range b.wild {
		ok := false
		for _, s := range a.wild {
			if t == s || strings.HasSuffix(t, "."+s) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func pathCovers(a, b *rule) bool {
	switch {
	case a.re != nil:
		return b.re != nil && a.re.String() == b.re.String()
	case a.prefix == "":
		return true
	case b.re != nil || b.prefix == "":
		return false
	}
	return prefixMatch(a.prefix, b.prefix)
}

func methodsCover(a, b *rule) bool {
	if len(a.methods) == 0 {
		return true
	}
	if len(b.methods) == 0 {
		return false
	}
	for _, m := range b.methods {
		if !containsFold(a.methods, m) {
			return false
		}
	}
	return true
}

func netsCover(a, b *rule) bool {
	if len(a.nets) == 0 {
		return true
	}
	if len(b.nets) == 0 {
		return false
	}
next:
	for _, bn := range b.nets {
		for _, an := range a.nets {
			if an.Bits() <= bn.Bits() && an.Contains(bn.Addr()) {
				continue next
			}
		}
		return false
	}
	return true
}

// prefixMatch reports whether path (without matrix parameters) is at or
// under prefix.
func prefixMatch(prefix, path string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || prefix[len(prefix)-1] == '/' || path[len(prefix)] == '/'
}

// matchHostName reports whether host (lower case) is one of r's hosts.
func (r *rule) matchHostName(h string) bool {
	if r.anyHost {
		return true
	}
	for _, e := range r.exact {
		if e == h {
			return true
		}
	}
	for _, s := range r.wild {
		if len(h) > len(s)+1 && h[len(h)-len(s)-1] == '.' && h[len(h)-len(s):] == s {
			return true
		}
	}
	return false
}

// matchMethod reports whether method is one of r's methods.
func (r *rule) matchMethod(method string) bool {
	return len(r.methods) == 0 || containsFold(r.methods, method)
}

// matchNet reports whether ip (unmapped, without zone) is in r's networks.
func (r *rule) matchNet(ip netip.Addr) bool {
	if len(r.nets) == 0 {
		return true
	}
	for _, n := range r.nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}
