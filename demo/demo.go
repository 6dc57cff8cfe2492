// Package demo is the built-in demo upstream: a "whoami" app that shows the
// identity headers it received from the gateway, so a newcomer can see
// Gatehouse working after one command. It trusts headers blindly, as a
// legacy app behind Gatehouse would; never expose it without the gateway.
package demo

import (
	"html/template"
	"net/http"
	"slices"
	"strings"
)

var page = template.Must(template.New("whoami").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>whoami · Gatehouse demo app</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{width:40%}code{overflow-wrap:anywhere}</style></head>
<body><h1>Hello, {{if .User}}{{.User}}{{else}}stranger{{end}}</h1>
<p>This is the demo upstream app. It knows nothing about passwords or sessions: Gatehouse signed you in
and told it who you are in these request headers.</p>
<h2>Identity headers received</h2>
<table>{{range .Identity}}<tr><th>{{.Name}}</th><td><code>{{.Value}}</code></td></tr>{{else}}<tr><td>none</td></tr>{{end}}</table>
<h2>Request</h2>
<table><tr><th>Method</th><td>{{.Method}}</td></tr><tr><th>Host</th><td>{{.Host}}</td></tr>
<tr><th>Path</th><td><code>{{.Path}}</code></td></tr>
{{range .Forwarded}}<tr><th>{{.Name}}</th><td><code>{{.Value}}</code></td></tr>{{end}}</table>
<p><a href="/logout">Sign out</a></p></body></html>
`))

type header struct{ Name, Value string }

// Whoami returns the demo upstream's handler.
func Whoami() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ident, fwd []header
		for name, values := range r.Header {
			v := strings.Join(values, ", ")
			switch {
			case strings.HasPrefix(name, "Remote-") || (strings.HasPrefix(name, "X-Forwarded-") && name != "X-Forwarded-For" && name != "X-Forwarded-Host" && name != "X-Forwarded-Proto"):
				ident = append(ident, header{name, v})
			case strings.HasPrefix(name, "X-Forwarded-"):
				fwd = append(fwd, header{name, v})
			}
		}
		byName := func(a, b header) int { return strings.Compare(a.Name, b.Name) }
		slices.SortFunc(ident, byName)
		slices.SortFunc(fwd, byName)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_ = page.Execute(w, map[string]any{
			"User":      r.Header.Get("X-Forwarded-User"),
			"Identity":  ident,
			"Forwarded": fwd,
			"Method":    r.Method,
			"Host":      r.Host,
			"Path":      r.URL.RequestURI(),
		})
	})
}
