package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// ACME challenge types accepted in ACMEOptions.Challenges.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// DefaultACMEWait is how long Manage waits for certificates when
// ACMEOptions.Wait is zero.
const DefaultACMEWait = 2 * time.Minute

// acmeTLS1 is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
const acmeTLS1 = "acme-tls/1"

// ACMEOptions configures ACME.
type ACMEOptions struct {
	// Hosts are obtained ahead of time and renewed in the background.
	// Wildcards are refused: HTTP-01 and TLS-ALPN-01 cannot validate them.
	Hosts []string
	// Email is the ACME account contact (may be empty).
	Email string
	// DirectoryURL is the CA's ACME directory; empty selects Let's Encrypt.
	DirectoryURL string
	// CARootFile, when set, is a PEM file of the roots trusted for talking
	// to the ACME server (instead of the system roots): a private CA, or
	// Pebble in tests.
	CARootFile string
	// Challenges lists ChallengeHTTP01 and/or ChallengeTLSALPN01; empty
	// enables both.
	Challenges []string
	// AltHTTPPort and AltTLSALPNPort are the ports the CA connects to for
	// the challenges when not 80 and 443 (the caller's listeners must be
	// reachable there).
	AltHTTPPort    int
	AltTLSALPNPort int
	// OnDemand obtains a certificate during the first TLS handshake for a
	// name outside Hosts, when Allow approves it. Off by default: any
	// client can send any SNI name, so Allow must only accept names the
	// operator configured.
	OnDemand bool
	// Allow decides on-demand names (required when OnDemand is set).
	// AllowHosts builds one from exact and "*." patterns.
	Allow func(ctx context.Context, name string) bool
	// Storage keeps accounts, certificates, challenge tokens and locks;
	// replicas share it (see package certstore). Required.
	Storage certmagic.Storage
	// Logger receives certmagic's logs. Nil discards them.
	Logger *slog.Logger
	// Wait bounds how long Manage waits for the certificates of Hosts.
	// Zero selects DefaultACMEWait.
	Wait time.Duration
}

// ACMEManager obtains, serves and renews certificates with certmagic, for a
// main TLS listener (certificates, TLS-ALPN-01) and an HTTP listener
// (HTTP-01). It owns its certmagic cache: nothing is shared through
// certmagic's package-level default config.
type ACMEManager struct {
	log   *slog.Logger
	life  context.Context // the ctx given to ACME: background management lives as long
	hosts []string
	wait  time.Duration
	http  bool
	alpn  bool

	cache   *certmagic.Cache
	managed *certmagic.Config     // Hosts, managed ahead of time
	serving *certmagic.Config     // handshakes: managed, or its on-demand twin
	issuer  *certmagic.ACMEIssuer // serving's issuer, answers HTTP-01

	mu      sync.Mutex
	failed  map[string]error // host -> last obtain error
	changed chan struct{}    // signalled on certificate events
}

// ACME builds an ACMEManager. It does no network I/O: serve TLSConfig and
// HTTPHandler, then call Manage once the listeners are bound. Background
// management (renewals, retries) and the certificate cache stop when ctx is
// done.
func ACME(ctx context.Context, o ACMEOptions) (*ACMEManager, error) {
	if o.Storage == nil {
		return nil, errors.New("acme: no storage")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hosts, err := acmeHosts(o.Hosts)
	if err != nil {
		return nil, err
	}
	useHTTP, useALPN, err := acmeChallenges(o.Challenges)
	if err != nil {
		return nil, err
	}
	if o.OnDemand && o.Allow == nil {
		return nil, errors.New("acme: on-demand certificates need an Allow function")
	}
	var roots *x509.CertPool
	if o.CARootFile != "" {
		pemBytes, err := os.ReadFile(o.CARootFile)
		if err != nil {
			return nil, fmt.Errorf("acme: read CA root file: %w", err)
		}
		roots = x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("acme: CA root file %q holds no PEM certificate", o.CARootFile)
		}
	}
	ca := o.DirectoryURL
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	wait := o.Wait
	if wait <= 0 {
		wait = DefaultACMEWait
	}

	m := &ACMEManager{
		log:     log,
		life:    ctx,
		hosts:   hosts,
		wait:    wait,
		http:    useHTTP,
		alpn:    useALPN,
		failed:  make(map[string]error),
		changed: make(chan struct{}, 1),
	}
	zl := zap.New(slogCore{h: log.Handler()}).Named("certmagic")
	hostSet := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		hostSet[h] = true
	}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			// Hosts renew in the background; on-demand names renew at
			// handshake time (certmagic skips configs with OnDemand).
			for _, n := range c.Names {
				if hostSet[n] {
					return m.managed, nil
				}
			}
			return m.serving, nil
		},
		Logger: zl,
	})
	newConfig := func(onDemand *certmagic.OnDemandConfig) (*certmagic.Config, *certmagic.ACMEIssuer) {
		cfg := certmagic.New(m.cache, certmagic.Config{
			Storage:  o.Storage,
			Logger:   zl,
			OnDemand: onDemand,
			OnEvent:  m.onEvent,
		})
		if len(hosts) > 0 {
			cfg.DefaultServerName = hosts[0] // clients without SNI (IP probes)
		}
		iss := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
			CA:                      ca,
			Email:                   o.Email,
			Agreed:                  true, // choosing ACME mode accepts the CA's terms
			DisableHTTPChallenge:    !useHTTP,
			DisableTLSALPNChallenge: !useALPN,
			AltHTTPPort:             o.AltHTTPPort,
			AltTLSALPNPort:          o.AltTLSALPNPort,
			TrustedRoots:            roots,
			Logger:                  zl,
		})
		cfg.Issuers = []certmagic.Issuer{iss}
		return cfg, iss
	}
	m.managed, m.issuer = newConfig(nil)
	m.serving = m.managed
	if o.OnDemand {
		allow := o.Allow
		m.serving, m.issuer = newConfig(&certmagic.OnDemandConfig{
			DecisionFunc: func(ctx context.Context, name string) error {
				if hostSet[name] || allow(ctx, name) {
					return nil
				}
				return fmt.Errorf("no route for %q: on-demand certificate refused", name)
			},
		})
	}
	go func() {
		<-ctx.Done()
		m.cache.Stop()
	}()
	return m, nil
}

// acmeHosts normalises hosts as certmagic does and refuses names it cannot
// obtain with HTTP-01 or TLS-ALPN-01.
func acmeHosts(in []string) ([]string, error) {
	var out []string
	var errs []error
	for _, h := range in {
		n := strings.ToLower(strings.TrimSpace(h))
		switch {
		case n == "":
			errs = append(errs, errors.New("acme: empty host name"))
		case strings.Contains(n, "*"):
			errs = append(errs, fmt.Errorf("acme: host %q: wildcard certificates need the DNS-01 challenge, which Gatehouse does not do", h))
		case !certmagic.SubjectQualifiesForCert(n):
			errs = append(errs, fmt.Errorf("acme: host %q is not a valid certificate name", h))
		case !slices.Contains(out, n):
			out = append(out, n)
		}
	}
	return out, errors.Join(errs...)
}

func acmeChallenges(in []string) (useHTTP, useALPN bool, err error) {
	if len(in) == 0 {
		return true, true, nil
	}
	for _, c := range in {
		switch c {
		case ChallengeHTTP01:
			useHTTP = true
		case ChallengeTLSALPN01:
			useALPN = true
		default:
			return false, false, fmt.Errorf("acme: unknown challenge %q (want %q or %q)", c, ChallengeHTTP01, ChallengeTLSALPN01)
		}
	}
	return useHTTP, useALPN, nil
}

// AllowHosts returns an on-demand decision accepting exactly the given
// names and, for a "*.example.com" pattern, any single label (not itself
// "*") in front of example.com. Matching is case-insensitive.
func AllowHosts(patterns ...string) func(ctx context.Context, name string) bool {
	exact := make(map[string]bool)
	var suffixes []string
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if rest, ok := strings.CutPrefix(p, "*."); ok {
			suffixes = append(suffixes, "."+rest)
		} else if p != "" {
			exact[p] = true
		}
	}
	return func(_ context.Context, name string) bool {
		name = strings.ToLower(name)
		if exact[name] {
			return true
		}
		for _, s := range suffixes {
			if label, ok := strings.CutSuffix(name, s); ok && label != "" && !strings.ContainsAny(label, ".*") {
				return true
			}
		}
		return false
	}
}

// TLSConfig returns the configuration for the main listener: certificates
// from the manager (obtained on demand if enabled), TLS 1.2+, HTTP/2, and
// answers to TLS-ALPN-01 challenges when enabled.
func (m *ACMEManager) TLSConfig() *tls.Config {
	c := m.serving.TLSConfig()
	c.MinVersion = tls.VersionTLS12
	c.NextProtos = []string{"h2", "http/1.1"}
	if m.alpn {
		c.NextProtos = append(c.NextProtos, acmeTLS1)
	}
	return c
}

// HTTPHandler wraps fallback (typically RedirectToHTTPS) for the HTTP
// listener: HTTP-01 challenge requests started by any replica sharing the
// storage are answered, everything else goes to fallback.
func (m *ACMEManager) HTTPHandler(fallback http.Handler) http.Handler {
	if !m.http {
		return fallback
	}
	return m.issuer.HTTPChallengeHandler(fallback)
}

// Manage starts managing the certificates of Hosts: each is loaded from the
// storage or obtained from the CA, then renewed in the background until the
// ctx given to ACME is done. Call it once the HTTP and TLS listeners are
// bound (certmagic would otherwise bind the challenge ports itself).
//
// It waits until every host has a certificate, or its first attempt failed,
// or Wait has passed, or ctx is done. It returns nil when every host has a
// certificate, and otherwise an error naming the hosts without one: that
// error is a report, not a stop: failed hosts are retried in the background
// and the server should keep serving.
func (m *ACMEManager) Manage(ctx context.Context) error {
	if len(m.hosts) == 0 {
		return nil
	}
	if err := m.managed.ManageAsync(m.life, m.hosts); err != nil {
		return fmt.Errorf("acme: start managing certificates: %w", err)
	}
	timer := time.NewTimer(m.wait)
	defer timer.Stop()
	for {
		pending, failed := m.status()
		if len(pending) == 0 && len(failed) == 0 {
			return nil
		}
		if len(pending) == 0 {
			return m.report(pending, failed)
		}
		select {
		case <-m.changed:
		case <-timer.C:
			return m.report(pending, failed)
		case <-ctx.Done():
			return m.report(pending, failed)
		case <-m.life.Done():
			return m.report(pending, failed)
		}
	}
}

// status lists the hosts still without a certificate: those still being
// obtained, and those whose last attempt failed.
func (m *ACMEManager) status() (pending []string, failed map[string]error) {
	failed = make(map[string]error)
	var missing []string
	for _, h := range m.hosts {
		// Outside m.mu: certmagic may emit events holding its cache lock.
		if len(m.cache.AllMatchingCertificates(h)) == 0 {
			missing = append(missing, h)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range missing {
		if err := m.failed[h]; err != nil {
			failed[h] = err
		} else {
			pending = append(pending, h)
		}
	}
	return pending, failed
}

func (m *ACMEManager) report(pending []string, failed map[string]error) error {
	var errs []error
	for _, h := range m.hosts {
		if err, ok := failed[h]; ok {
			errs = append(errs, fmt.Errorf("acme: no certificate for %s yet (retrying in the background): %w", h, err))
		}
	}
	for _, h := range pending {
		errs = append(errs, fmt.Errorf("acme: no certificate for %s yet (still being obtained)", h))
	}
	return errors.Join(errs...)
}

// onEvent records certmagic's certificate events for Manage.
func (m *ACMEManager) onEvent(_ context.Context, event string, data map[string]any) error {
	switch event {
	case "cert_failed", "cert_obtained", "cached_managed_cert":
	default:
		return nil
	}
	if name, ok := data["identifier"].(string); ok {
		m.mu.Lock()
		if event == "cert_failed" {
			err, _ := data["error"].(error)
			if err == nil {
				err = errors.New("certificate not obtained")
			}
			m.failed[name] = err
		} else {
			delete(m.failed, name)
		}
		m.mu.Unlock()
	}
	select {
	case m.changed <- struct{}{}:
	default:
	}
	return nil
}

// slogCore is a zapcore.Core writing to an slog.Handler, so certmagic logs
// through the logger Gatehouse was given.
type slogCore struct {
	h slog.Handler
}

func zapToSlog(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return slog.LevelDebug
	case l == zapcore.InfoLevel:
		return slog.LevelInfo
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func zapAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	slices.SortFunc(attrs, func(a, b slog.Attr) int { return strings.Compare(a.Key, b.Key) })
	return attrs
}

func (c slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), zapToSlog(l))
}

func (c slogCore) With(fields []zapcore.Field) zapcore.Core {
	return slogCore{h: c.h.WithAttrs(zapAttrs(fields))}
}

func (c slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, zapToSlog(e.Level), e.Message, 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("logger", e.LoggerName))
	}
	r.AddAttrs(zapAttrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (slogCore) Sync() error { return nil }
