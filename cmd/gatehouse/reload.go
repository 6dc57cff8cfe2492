package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/store"
)

// generation is the set of components built from one configuration, with
// the context their watches and actors run under.
type generation struct {
	app    *app
	cancel context.CancelFunc
}

// live serves the current generation and replaces it on reload: SIGHUP
// reads the configuration again, validates it, builds a new generation
// on the same store and swaps it in atomically. Requests already in
// flight finish on the generation they started on. An invalid
// configuration, or one whose components cannot be built, changes
// nothing: the previous one keeps serving and every problem is logged.
// A configured user the new configuration removes or disables loses every
// session and token at once (see apply).
// Settings that belong to the listeners, the store and the process
// (server, store, log, demo) keep their running values; changing them
// needs a restart, and a reload names those that changed.
type live struct {
	path    string
	getenv  func(string) string
	demo    bool // serve runs the demo (see chooseDemo)
	st      store.Store
	log     *slog.Logger
	demoURL *url.URL
	g       *group

	mu  sync.Mutex // one reload at a time
	cur atomic.Pointer[generation]
	// gws are the gateways whose websockets shutdown closes.
	gws gateways
}

// ServeHTTP serves the request with the current generation.
func (l *live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.cur.Load().app.handler.ServeHTTP(w, r)
}

// current is the generation serving now.
func (l *live) current() *app { return l.cur.Load().app }

// build builds a generation from cfg and starts its actors.
func (l *live) build(cfg config.Config) (*generation, error) {
	ctx, cancel := context.WithCancel(l.g.ctx)
	a, err := newApp(ctx, cfg, l.st, l.log, l.demoURL)
	if err != nil {
		cancel()
		return nil, err
	}
	for _, act := range a.actors() {
		l.g.startWith(ctx, act)
	}
	l.gws.track(a.gateway)
	return &generation{app: a, cancel: cancel}, nil
}

// start builds and serves the first generation.
func (l *live) start(cfg config.Config) error {
	gen, err := l.build(cfg)
	if err != nil {
		return err
	}
	l.cur.Store(gen)
	return nil
}

// reload replaces the current generation with one built from the
// configuration as it is now; it reports whether it did.
func (l *live) reload(drain time.Duration) bool {
	cfg, err := config.Load(l.path, l.getenv)
	if err == nil || !reflect.ValueOf(cfg).IsZero() {
		err = errors.Join(err, cfg.Validate())
	}
	if err != nil {
		l.refused("the configuration is invalid", err)
		return false
	}
	return l.apply(cfg, drain)
}

// apply replaces the current generation with one built from cfg, a
// validated configuration, and then revokes what the change takes away:
// every session and token of a configured user it removes or disables.
// It reports whether it swapped.
func (l *live) apply(cfg config.Config, drain time.Duration) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.cur.Load()
	running := old.app.cfg
	if l.demo {
		cfg.Demo.Enabled = true
		cfg.Server.Listen = demoListenAddr(cfg.Server.Listen)
	}
	fixed := restartOnly(running, cfg)
	cfg.Server, cfg.Store, cfg.Log, cfg.Demo = running.Server, running.Store, running.Log, running.Demo
	// The sections kept from the running configuration must still fit
	// the new one (a session cookie domain and the public URL).
	if err := cfg.Validate(); err != nil {
		l.refused("the configuration is invalid", err)
		return false
	}
	next, err := l.build(cfg)
	if err != nil {
		l.refused("its components cannot be built", err)
		return false
	}
	l.cur.Store(next)
	old.cancel()
	l.log.Info("configuration reloaded", "file", l.path, "users", len(cfg.Users), "clients", len(cfg.OIDC.Clients),
		"routes", len(cfg.Gateway.Routes), "rules", len(cfg.Gateway.Rules))
	if len(fixed) > 0 {
		l.log.Warn("reload: these settings change only when Gatehouse restarts; their running values stay in use",
			"settings", strings.Join(fixed, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(drain, revokeTimeout))
	defer cancel()
	l.revokeUsers(ctx, next.app, withdrawnUsers(running.Users, cfg.Users))
	if removed := removedClients(running.OIDC.Clients, cfg.OIDC.Clients); len(removed) > 0 {
		l.log.Info("reload: clients removed; their tokens are refused from now on", "clients", strings.Join(removed, ", "))
	}
	if err := old.app.close(ctx); err != nil {
		l.log.Warn("reload: closing the previous configuration's components", "err", err)
	}
	return true
}

// revokeTimeout is the least time the revocations of one reload get.
const revokeTimeout = 30 * time.Second

// revokeUsers ends every SSO session of each user in ids (and so the app
// sessions and the grants created from them), tells every replica's
// caches to drop the user's sessions and tokens at once, and revokes the
// user's remaining grants (offline access included), so that enabling
// the user again brings none of them back. Failures are logged; the
// user's credentials are refused anyway while the user is disabled or
// absent, since every use checks the user.
func (l *live) revokeUsers(ctx context.Context, a *app, ids []string) {
	for _, id := range ids {
		n, err := a.sessions.RevokeUser(ctx, id)
		if err != nil {
			l.log.Error("reload: revoke the sessions of a removed or disabled user", "user_id", id, "err", err)
		}
		g, gerr := a.grants.RevokeUser(ctx, id)
		if gerr != nil {
			l.log.Error("reload: revoke the grants of a removed or disabled user", "user_id", id, "err", gerr)
		}
		if err == nil && gerr == nil {
			l.log.Info("reload: user removed or disabled: sessions and tokens revoked", "user_id", id, "sessions", n, "grants", g)
		}
	}
}

// withdrawnUsers lists the ids of the enabled users of running that next
// removes or disables.
func withdrawnUsers(running, next []config.User) []string {
	enabled := make(map[string]bool, len(next))
	for _, u := range next {
		enabled[u.ID] = !u.Disabled
	}
	var out []string
	for _, u := range running {
		if !u.Disabled && !enabled[u.ID] {
			out = append(out, u.ID)
		}
	}
	return out
}

// removedClients lists the client ids of running that next does not have.
func removedClients(running, next []config.Client) []string {
	kept := make(map[string]bool, len(next))
	for _, c := range next {
		kept[c.ClientID] = true
	}
	var out []string
	for _, c := range running {
		if !kept[c.ClientID] {
			out = append(out, c.ClientID)
		}
	}
	return out
}

// refused logs a refused reload and each of its problems.
func (l *live) refused(why string, err error) {
	l.log.Error("reload refused: "+why+"; still serving the previous configuration", "file", l.path)
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			l.log.Error("reload: configuration problem", "problem", line)
		}
	}
}

// close ends the current generation: its watches and actors stop, and
// its close runs within ctx.
func (l *live) close(ctx context.Context) error {
	gen := l.cur.Load()
	if gen == nil {
		return nil
	}
	gen.cancel()
	return gen.app.close(ctx)
}

// restartOnly names the settings of next that differ from running and
// that a reload cannot apply: every key of server, store and log (the
// listeners, TLS, the store and the logger are built once), and demo.
func restartOnly(running, next config.Config) []string {
	var out []string
	for _, s := range []struct {
		name          string
		running, next any
	}{
		{"server", running.Server, next.Server},
		{"store", running.Store, next.Store},
		{"log", running.Log, next.Log},
	} {
		out = append(out, changedKeys(s.name, reflect.ValueOf(s.running), reflect.ValueOf(s.next))...)
	}
	if running.Demo.Enabled != next.Demo.Enabled && !running.Demo.Enabled {
		out = append(out, "demo.enabled")
	}
	return out
}

// changedKeys lists the keys (by their YAML names under prefix) whose
// values differ between the structs a and b, descending into nested
// structs.
func changedKeys(prefix string, a, b reflect.Value) []string {
	if a.Kind() != reflect.Struct {
		if reflect.DeepEqual(a.Interface(), b.Interface()) {
			return nil
		}
		return []string{prefix}
	}
	var out []string
	t := a.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, changedKeys(fmt.Sprintf("%s.%s", prefix, name), a.Field(i), b.Field(i))...)
	}
	return out
}
