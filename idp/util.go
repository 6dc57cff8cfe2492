package idp

import (
	"html/template"
	"net/url"
	"sort"
	"strings"

	"github.com/gatehouse-sso/gatehouse/idp/clients"
)

// trustedURL marks a registered redirect URI as safe for a page's links
// and form actions, whatever its scheme (native apps use their own). The
// schemes a browser would run as code are refused all the same.
func trustedURL(s string) template.URL {
	u, err := url.Parse(s)
	if err != nil {
		return "about:blank"
	}
	switch strings.ToLower(u.Scheme) {
	case "", "javascript", "data", "vbscript", "blob", "file":
		return "about:blank"
	}
	return template.URL(s)
}

// origin returns the CSP source for uri: "https://host:port" for http(s),
// "scheme:" otherwise; "" when unparseable.
func origin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "http" || scheme == "https" {
		if u.Host == "" {
			return ""
		}
		return scheme + "://" + strings.ToLower(u.Host)
	}
	return scheme + ":"
}

// clientOrigins collects the web origins of every client's redirect URLs:
// the browser origins allowed to call the token, userinfo and revocation
// endpoints (single-page apps).
func clientOrigins(cs []*clients.Client) map[string]bool {
	out := map[string]bool{}
	for _, c := range cs {
		for _, list := range [][]string{c.RedirectURLs, c.PostLogoutRedirectURLs} {
			for _, r := range list {
				if o := origin(r); strings.HasPrefix(o, "http") {
					out[o] = true
				}
			}
		}
	}
	return out
}

func sortedKeys(v url.Values) []string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
