package main

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"github.com/gatehouse-sso/gatehouse/certstore"
	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/server"
	"github.com/gatehouse-sso/gatehouse/store"
)

// acmeHosts are the names certificates are obtained for ahead of time:
// the configured hosts, Gatehouse's own host and every route host without
// a wildcard.
func acmeHosts(cfg config.Config) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		h = strings.ToLower(strings.TrimSuffix(h, "."))
		if h == "" || strings.HasPrefix(h, "*.") || seen[h] {
			return
		}
		seen[h] = true
		out = append(out, h)
	}
	for _, h := range cfg.Server.TLS.ACME.Hosts {
		add(h)
	}
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil {
		add(u.Hostname())
	}
	for _, r := range cfg.Gateway.Routes {
		add(r.Host)
	}
	return out
}

// newACME builds the certificate manager for server.tls.mode "acme", with
// certificates and locks in the project's store so replicas share them.
// On-demand issuance is limited to the route hosts (wildcards included).
func newACME(ctx context.Context, cfg config.Config, st store.Store, log *slog.Logger) (*server.ACMEManager, error) {
	a := cfg.Server.TLS.ACME
	var patterns []string
	for _, r := range cfg.Gateway.Routes {
		patterns = append(patterns, r.Host)
	}
	o := server.ACMEOptions{
		Hosts:          acmeHosts(cfg),
		Email:          a.Email,
		DirectoryURL:   a.DirectoryURL,
		CARootFile:     a.CARootFile,
		Challenges:     a.Challenges,
		AltHTTPPort:    a.AltHTTPPort,
		AltTLSALPNPort: a.AltTLSALPNPort,
		OnDemand:       a.OnDemand,
		Storage:        certstore.New(st, certstore.Options{Logger: log}),
		Logger:         log,
	}
	if a.OnDemand {
		o.Allow = server.AllowHosts(patterns...)
	}
	return server.ACME(ctx, o)
}
