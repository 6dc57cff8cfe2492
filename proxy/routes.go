package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// route is one compiled entry of gateway.routes.
type route struct {
	index        int
	host         string   // lower case; "*.example.com" for a wildcard
	prefix       string   // "" for the whole host
	aud          string   // the assertion's audience: the name, or the host
	bearer       []string // client_ids whose access tokens are accepted
	headers      headerSet
	maxBody      int64
	preserveHost bool
	passRewrite  bool // pass_rewrite_headers
	pool         *pool
	origins      []upstreamOrigin // how Location and the like name the upstreams
	idle         time.Duration    // body_idle_timeout
	wait         time.Duration    // the response-header timeout plus idle
	rp           *httputil.ReverseProxy
}

// upstream is one upstream URL of a route and its passive health.
type upstream struct {
	url *url.URL
	// downUntil is when the upstream may be tried again (Unix ns); 0 or
	// past means healthy.
	downUntil atomic.Int64
}

// pool picks upstreams round-robin, skipping those that failed within
// failTimeout unless all did.
type pool struct {
	ups         []*upstream
	next        atomic.Uint32
	failTimeout time.Duration
}

func (p *pool) pick(now int64) *upstream {
	n := len(p.ups)
	if n == 1 {
		return p.ups[0]
	}
	// Each try takes the next turn, so a down upstream's turns are spread
	// over the others instead of all falling to its successor.
	var first *upstream
	for range n {
		u := p.ups[p.next.Add(1)%uint32(n)]
		if u.downUntil.Load() <= now {
			return u
		}
		if first == nil {
			first = u
		}
	}
	return first // all down: plain round-robin
}

// markDown takes the upstream at host out of rotation for failTimeout.
func (p *pool) markDown(host string, now time.Time) bool {
	marked := false
	for _, u := range p.ups {
		if u.url.Host == host {
			u.downUntil.Store(now.Add(p.failTimeout).UnixNano())
			marked = true
		}
	}
	return marked
}

// table finds the route of a request: exact host first, then wildcards
// from the most specific parent domain, then the longest path prefix at
// a segment boundary within the host's routes. It is built once and
// read-only afterwards.
type table struct {
	exact map[string][]*route
	wild  map[string][]*route // by the part after "*."
}

func newTable(routes []*route) *table {
	t := &table{exact: map[string][]*route{}, wild: map[string][]*route{}}
	for _, r := range routes {
		if base, ok := strings.CutPrefix(r.host, "*."); ok {
			t.wild[base] = append(t.wild[base], r)
		} else {
			t.exact[r.host] = append(t.exact[r.host], r)
		}
	}
	longestFirst := func(a, b *route) int { return len(b.prefix) - len(a.prefix) }
	for _, rs := range t.exact {
		slices.SortStableFunc(rs, longestFirst)
	}
	for _, rs := range t.wild {
		slices.SortStableFunc(rs, longestFirst)
	}
	return t
}

// match returns the route for a normalised host and path, or nil.
func (t *table) match(host, path string) *route {
	if rs, ok := t.exact[host]; ok {
		if r := matchPrefix(rs, path); r != nil {
			return r
		}
	}
	if len(t.wild) == 0 {
		return nil
	}
	for h := range parentDomains(host) {
		if rs, ok := t.wild[h]; ok {
			if r := matchPrefix(rs, path); r != nil {
				return r
			}
		}
	}
	return nil
}

// parentDomains yields host's parent domains, most specific first ("a.b.c"
// yields "b.c", then "c"): the keys a wildcard host "*.b.c" is kept under.
func parentDomains(host string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for h := host; ; {
			i := strings.IndexByte(h, '.')
			if i < 0 || !yield(h[i+1:]) {
				return
			}
			h = h[i+1:]
		}
	}
}

// hostPattern normalises a configured host (exact, or "*." and a base):
// lower case, no trailing dot; wild reports a wildcard, whose base is
// returned without the "*.".
func hostPattern(h string) (key string, wild bool) {
	h = strings.ToLower(strings.TrimSuffix(h, "."))
	if base, ok := strings.CutPrefix(h, "*."); ok {
		return base, true
	}
	return h, false
}

func matchPrefix(rs []*route, path string) *route {
	for _, r := range rs {
		if prefixMatch(r.prefix, path) {
			return r
		}
	}
	return nil
}

// prefixMatch matches a path prefix at a segment boundary, like the
// policy: "/app" matches "/app", "/app/x" and "/app;x", not "/apple";
// "/app/" matches only beneath "/app/".
func prefixMatch(prefix, path string) bool {
	if prefix == "" {
		return true
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	if len(path) == len(prefix) || prefix[len(prefix)-1] == '/' {
		return true
	}
	c := path[len(prefix)]
	return c == '/' || c == ';'
}

// hostClients maps forward-auth hosts (exact or wildcard) to the clients
// whose access tokens their answers accept (gateway.forward_auth.bearer).
// It is built once and read-only afterwards.
type hostClients struct {
	exact map[string][]string
	wild  map[string][]string // by the part after "*."
}

func newHostClients(list []config.HostBearer) hostClients {
	hc := hostClients{exact: map[string][]string{}, wild: map[string][]string{}}
	for _, b := range list {
		for _, h := range b.Hosts {
			if key, wild := hostPattern(h); wild {
				hc.wild[key] = slices.Clone(b.Clients)
			} else {
				hc.exact[key] = slices.Clone(b.Clients)
			}
		}
	}
	return hc
}

// lookup returns the clients for a normalised host: its exact entry, else
// the most specific wildcard's; nil when none names it.
func (hc hostClients) lookup(host string) []string {
	if c, ok := hc.exact[host]; ok {
		return c
	}
	for h := range parentDomains(host) {
		if c, ok := hc.wild[h]; ok {
			return c
		}
	}
	return nil
}

// hostSet answers whether Gatehouse serves a host as an app host: the
// hosts of routes and of rules, exact or wildcard.
type hostSet struct {
	exact map[string]bool
	wild  map[string]bool // by the part after "*."
}

func (s *hostSet) add(h string) {
	if key, wild := hostPattern(h); wild {
		s.wild[key] = true
	} else if key != "" {
		s.exact[key] = true
	}
}

func (s *hostSet) has(host string) bool {
	if s.exact[host] {
		return true
	}
	for h := range parentDomains(host) {
		if s.wild[h] {
			return true
		}
	}
	return false
}

// newTransport builds the tuned transport of one route.
func newTransport(u config.Upstream, r config.Route) (*http.Transport, error) {
	dialer := &net.Dialer{Timeout: u.DialTimeout.D(), KeepAlive: 30 * time.Second}
	idle := u.MaxIdleConnsPerHost
	if idle <= 0 {
		idle = 256
	}
	rht := u.ResponseHeaderTimeout.D()
	if r.Timeout > 0 {
		rht = r.Timeout.D()
	}
	t := &http.Transport{
		Proxy:                 nil, // never an environment proxy between the gateway and its apps
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: rht,
		ExpectContinueTimeout: time.Second,
	}
	if r.UpstreamCAFile != "" {
		pem, err := os.ReadFile(r.UpstreamCAFile)
		if err != nil {
			return nil, fmt.Errorf("read upstream_ca_file: %w", err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("upstream_ca_file %s: no PEM certificate in it", r.UpstreamCAFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	return t, nil
}

// parseUpstreams parses a route's upstream URLs.
func parseUpstreams(list []string, failTimeout time.Duration) (*pool, error) {
	if len(list) == 0 {
		return nil, errors.New("no upstreams")
	}
	p := &pool{failTimeout: failTimeout}
	for i, raw := range list {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("upstreams[%d]: %q is not an http or https URL without query or user info", i, raw)
		}
		p.ups = append(p.ups, &upstream{url: u})
	}
	return p, nil
}

// RouteHost reports whether a request's Host header names Gatehouse's
// own host or the host of a route (exact or wildcard), and returns it in
// normal form: lower case, without port or trailing dot (an IPv6 literal
// without brackets). The plain-HTTP listener keeps such hosts when it
// redirects to https.
func (g *Gateway) RouteHost(hostHeader string) (string, bool) {
	h, ok := g.hostKey(hostHeader)
	if !ok {
		return "", false
	}
	if h == g.own || len(g.table.exact[h]) > 0 {
		return h, true
	}
	for p := h; ; {
		i := strings.IndexByte(p, '.')
		if i < 0 {
			return "", false
		}
		p = p[i+1:]
		if len(g.table.wild[p]) > 0 {
			return h, true
		}
	}
}
