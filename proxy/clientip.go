package proxy

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// trustedNets are the networks whose X-Forwarded-* headers and
// forward-auth requests are believed (gateway.trusted_proxies).
type trustedNets []netip.Prefix

// loopback is the default when no trusted proxies are configured.
var loopback = []string{"127.0.0.0/8", "::1/128"}

func parseTrusted(list []string) (trustedNets, error) {
	if len(list) == 0 {
		list = loopback
	}
	out := make(trustedNets, 0, len(list))
	for i, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("gateway.trusted_proxies[%d]: %q is not a CIDR prefix", i, s)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

func (t trustedNets) contains(a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range t {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// peerAddr is the address of the connection's other end.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// clientIP is the client's address: the peer, or, when the peer is a
// trusted proxy, the right-most address of X-Forwarded-For (then
// X-Real-IP) that is not itself a trusted proxy. A malformed entry stops
// the walk: what lies left of it cannot be trusted.
func (t trustedNets) clientIP(r *http.Request, peer netip.Addr) netip.Addr {
	if !t.contains(peer) {
		return peer
	}
	vals := r.Header["X-Forwarded-For"]
	if len(vals) == 0 {
		if v := strings.TrimSpace(r.Header.Get("X-Real-Ip")); v != "" {
			if a, err := netip.ParseAddr(v); err == nil {
				return a.Unmap()
			}
		}
		return peer
	}
	last := peer
	for i := len(vals) - 1; i >= 0; i-- {
		s := vals[i]
		for s != "" {
			part := s
			if k := strings.LastIndexByte(s, ','); k >= 0 {
				part, s = s[k+1:], s[:k]
			} else {
				s = ""
			}
			a, err := netip.ParseAddr(strings.TrimSpace(part))
			if err != nil {
				return last
			}
			a = a.Unmap()
			if !t.contains(a) {
				return a
			}
			last = a
		}
	}
	return last
}

// ClientIP returns the function the gateway uses to find a request's
// client address (see trustedNets.clientIP), for other components that log
// or limit by client: trusted are gateway.trusted_proxies (loopback when
// empty).
func ClientIP(trusted []string) (func(*http.Request) string, error) {
	t, err := parseTrusted(trusted)
	if err != nil {
		return nil, err
	}
	return func(r *http.Request) string {
		a := t.clientIP(r, peerAddr(r))
		if !a.IsValid() {
			return ""
		}
		return a.String()
	}, nil
}
