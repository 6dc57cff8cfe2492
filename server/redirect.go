package server

import (
	"net/http"
	"net/url"
	"strings"
)

// RedirectToHTTPS serves the plain-HTTP listener: every request but
// /healthz gets a permanent redirect to the same path and query over
// https, as nginx's "return 301 https://$host$request_uri" does. A
// request for a host that keep accepts (it returns the host in normal
// form: lower case, without port) keeps its host, with publicURL's port;
// any other host goes to publicURL's host, so the listener never sends a
// browser to a host Gatehouse does not serve. publicURL's own host is
// always kept; keep may be nil.
func RedirectToHTTPS(publicURL *url.URL, keep func(host string) (string, bool)) http.Handler {
	port := publicURL.Port()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			plain(w, http.StatusOK, "ok")
			return
		}
		host := publicURL.Host
		if keep != nil {
			if h, ok := keep(r.Host); ok {
				if strings.IndexByte(h, ':') >= 0 { // IPv6 literal
					h = "[" + h + "]"
				}
				if port != "" {
					h += ":" + port
				}
				host = h
			}
		}
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := "https://" + host + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}
