// Package proxy is Gatehouse's gateway: it routes requests for app hosts
// to their upstreams (round-robin with passive health checks, websockets,
// streaming, upstream TLS), authenticates them (the gateway's own app
// cookie or an IdP-issued bearer token), asks the policy, and tells the
// upstream who the user is in identity headers and a signed assertion —
// after removing every identity header the client sent itself. It also
// answers forward-auth questions from nginx, Traefik and Caddy, and runs
// the sign-in on each app host as an OIDC client of Gatehouse's own IdP.
//
// It does not decide policy itself (package policy does) and does not
// serve Gatehouse's own pages; [Gateway.Dispatch] sends requests for
// Gatehouse's own host to the handler that does.
//
// # Hot path
//
// A request with a valid app cookie or bearer token does no store I/O
// while its validated session is cached (Options.Gateway.SessionCacheTTL):
// the cache is keyed by the raw cookie (or token), so even the cookie's
// HMAC and decryption are skipped. The caches listen to the session
// package's revocation topic (Gateway.Watch): a session ended or a token
// revoked, on this replica or another, is evicted as soon as the message
// arrives, and everything is when messages were lost. A store failure is
// never cached.
//
// # Reserved paths
//
// On every app host, /.gatehouse/ belongs to Gatehouse: start (sign-in),
// callback, session (hand-off of a sign-in done on another host), logout,
// and auth (forward-auth, for a reverse proxy that forwards its
// subrequests on the app's host).
package proxy
