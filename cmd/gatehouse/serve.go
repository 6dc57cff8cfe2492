package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/demo"
	"github.com/gatehouse-sso/gatehouse/internal/heapfloor"
	"github.com/gatehouse-sso/gatehouse/server"
)

func serveCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := fs.String("config", "", "configuration file")
	demoFlag := fs.Bool("demo", false, "run the embedded demo")
	if err := fs.Parse(args); err != nil {
		return exitError{}
	}
	path, found := findConfig(*cfgFlag, getenv)
	cfg, err := loadConfig(path, getenv, stderr)
	if err != nil {
		return err
	}
	say := newBanner(cfg.Log, stdout)
	runDemo, why := chooseDemo(*demoFlag, found, cfg, getenv)
	if why != "" {
		say.line(why)
	}
	if runDemo {
		cfg.Demo.Enabled = true
		cfg.Server.Listen = demoListenAddr(cfg.Server.Listen)
	}
	log := newLogger(cfg.Log, stderr)
	source := path
	if !found {
		source = "defaults and environment"
	}
	log.Info("configuration loaded", "file", source, "users", len(cfg.Users), "clients", len(cfg.OIDC.Clients),
		"routes", len(cfg.Gateway.Routes), "rules", len(cfg.Gateway.Rules), "demo", cfg.Demo.Enabled)
	// The garbage collector waits for server.min_heap_mib of heap (see
	// heapfloor): the check and the proxy allocate a few KiB a request.
	defer heapfloor.Start(uint64(cfg.Server.MinHeapMiB) << 20)()

	st, stLC, err := buildStore(cfg.Store, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := stLC.close(context.Background()); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	// Every listener and actor runs in one group until ctx ends or one of
	// them fails.
	g := newGroup(ctx)
	defer g.cancel()

	var (
		tlsCfg *tls.Config
		acme   *server.ACMEManager
	)
	if cfg.Server.TLS.Mode == config.TLSACME {
		if acme, err = newACME(g.ctx, cfg, st, log); err != nil {
			return fmt.Errorf("server.tls.acme: %w", err)
		}
		tlsCfg = acme.TLSConfig()
	} else if tlsCfg, err = tlsConfig(cfg.Server.TLS, time.Now()); err != nil {
		return err
	}
	base := server.Options{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.Server.ReadTimeout.D(),
		WriteTimeout:      cfg.Server.WriteTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ShutdownTimeout:   cfg.Server.ShutdownTimeout.D(),
	}
	listener := func(name string, h http.Handler, o server.Options) actor {
		return actor{name: name, run: func(ctx context.Context) error { return server.Serve(ctx, h, o, log) }}
	}

	var demoURL *url.URL
	if cfg.Demo.Enabled {
		ready := make(chan net.Addr, 1)
		o := base
		o.Addr = "127.0.0.1:0"
		o.Ready = func(a net.Addr) { ready <- a }
		g.start(listener("demo upstream", demo.Whoami(), o))
		select {
		case a := <-ready:
			demoURL = &url.URL{Scheme: "http", Host: a.String()}
		case <-g.ctx.Done():
			return g.stop()
		}
	}

	// The components built from the configuration serve through srv,
	// which SIGHUP rebuilds (see live).
	srv := &live{path: path, getenv: getenv, demo: cfg.Demo.Enabled, st: st, log: log, demoURL: demoURL, g: g}
	if err := srv.start(cfg); err != nil {
		return errors.Join(err, g.stop())
	}
	if cfg.Demo.Enabled {
		password, err := ensureDemoUser(g.ctx, srv.current().users)
		if err != nil {
			return errors.Join(err, g.stop())
		}
		say.demo(cfg, password)
	}

	// bound counts the listeners still to bind; ACME starts obtaining
	// certificates only once they are, so the CA's challenges reach us.
	var bound sync.WaitGroup
	main := base
	main.Addr = cfg.Server.Listen
	main.TLS = tlsCfg
	// Websockets are hijacked out of the server's sight: the gateway sends
	// them a close frame (1001) and waits for them within the same deadline.
	main.OnShutdown = srv.gws.shutdown
	bound.Add(1)
	main.Ready = func(addr net.Addr) {
		defer bound.Done()
		log.Info("gatehouse listening", "addr", addr.String(), "tls", cfg.Server.TLS.Mode, "public_url", cfg.Server.PublicURL, "version", version)
		say.line(fmt.Sprintf("Gatehouse is listening on %s. Open %s/", addr, cfg.Server.PublicURL))
	}
	g.start(listener("main listener", srv, main))
	if cfg.Server.HTTPListen != "" {
		public, _ := url.Parse(cfg.Server.PublicURL)
		o := base
		o.Addr = cfg.Server.HTTPListen
		bound.Add(1)
		o.Ready = func(net.Addr) { bound.Done() }
		var h http.Handler = server.RedirectToHTTPS(public, func(host string) (string, bool) {
			return srv.current().gateway.RouteHost(host)
		})
		if acme != nil {
			h = acme.HTTPHandler(h) // answers HTTP-01 challenges
		}
		g.start(listener("http redirect listener", server.Middleware(h, log, cfg.Gateway.TrustedProxyPrefixes()), o))
	}
	if acme != nil {
		g.start(actor{name: "acme", run: func(ctx context.Context) error {
			listening := make(chan struct{})
			go func() { bound.Wait(); close(listening) }()
			select {
			case <-listening:
			case <-ctx.Done():
				return nil
			}
			if err := acme.Manage(ctx); err != nil && ctx.Err() == nil {
				log.Error("certificates not obtained yet; retrying in the background", "err", err)
			}
			return nil
		}})
	}

	// SIGHUP reloads the configuration until the group ends.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-g.ctx.Done():
			done = true
		case <-hup:
			log.Info("SIGHUP: reloading the configuration", "file", path)
			srv.reload(cfg.Server.ShutdownTimeout.D())
		}
	}
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	// The listeners return within the shutdown timeout and the other
	// actors at once; one that does not is named and left behind rather
	// than keeping the process from stopping.
	err = g.waitAtMost(cfg.Server.ShutdownTimeout.D() + actorStopGrace)
	// Work the components still hold (back-channel logouts already
	// started) gets the shutdown budget too.
	drain, stop := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	if cerr := srv.close(drain); cerr != nil {
		log.Warn("shutdown", "err", cerr)
	}
	stop()
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// chooseDemo decides whether serve runs the demo, and returns the line
// that tells the person starting it which it does ("" when a
// configuration file is served as it is). With --demo it does. Without a
// configuration file it does only when demo.enabled is set or when no
// GATEHOUSE_* variable configures what to serve; otherwise the
// environment is the configuration. The variables that only say where
// Gatehouse listens, where it keeps its data and how it logs
// (server.listen, store.*, log.*) do not count: the container image sets
// the first two, and still runs the demo when given nothing else.
func chooseDemo(flag, found bool, cfg config.Config, getenv func(string) string) (bool, string) {
	switch {
	case flag:
		return true, "--demo: starting the demo."
	case found:
		return cfg.Demo.Enabled, ""
	}
	none := fmt.Sprintf("No configuration file found (--config, $GATEHOUSE_CONFIG or ./%s)", defaultConfigFile)
	if cfg.Demo.Enabled {
		return true, none + " and demo.enabled is set: starting the demo."
	}
	settings := deploymentSettings(getenv)
	if len(settings) == 0 {
		return true, none + " and no GATEHOUSE_* settings: starting the demo."
	}
	return false, fmt.Sprintf("%s: serving the configuration from the environment (%s), not the demo.",
		none, strings.Join(settings, ", "))
}

// deploymentSettings names the GATEHOUSE_* variables set that configure
// what Gatehouse serves: every configuration variable except those of
// server.listen, store and log.
func deploymentSettings(getenv func(string) string) []string {
	var out []string
	for _, name := range config.EnvSettings(getenv) {
		if name == "GATEHOUSE_SERVER_LISTEN" || strings.HasPrefix(name, "GATEHOUSE_STORE_") || strings.HasPrefix(name, "GATEHOUSE_LOG_") {
			continue
		}
		out = append(out, name)
	}
	return out
}

// actorStopGrace is how long, beyond server.shutdown_timeout, serve waits
// for its actors to return once told to stop.
const actorStopGrace = 5 * time.Second

// demoListenAddr is where the demo listens: loopback only while
// server.listen is the default (":8443", every interface), since the demo
// prints a password; an address the operator chose is kept.
func demoListenAddr(listen string) string {
	if listen == config.Default().Server.Listen {
		return "127.0.0.1:8443"
	}
	return listen
}

// banner prints the lines meant for the person who started Gatehouse on
// stdout: plain text, or, with log.format json, one JSON object per line
// like the log's.
type banner struct {
	w    io.Writer
	json *slog.Logger // nil: plain text
}

func newBanner(c config.Log, w io.Writer) banner {
	if c.Format == "json" {
		return banner{w: w, json: slog.New(slog.NewJSONHandler(w, nil))}
	}
	return banner{w: w}
}

// line prints one message.
func (b banner) line(msg string) {
	if b.json != nil {
		b.json.Info(msg)
		return
	}
	fmt.Fprintln(b.w, msg)
}

// demo prints how to sign in to the demo: the URL, the demo user and,
// when it was just created, its generated password (shown only here).
func (b banner) demo(cfg config.Config, password string) {
	if b.json != nil {
		attrs := []any{"url", cfg.Server.PublicURL + "/", "username", demoUsername}
		if password != "" {
			attrs = append(attrs, "password", password)
		}
		if cfg.Store.Backend == config.StoreBolt {
			attrs = append(attrs, "data", cfg.Store.Bolt.Path)
		}
		b.json.Info("Gatehouse demo", attrs...)
		return
	}
	printDemo(b.w, cfg, password)
}

func printDemo(w io.Writer, cfg config.Config, password string) {
	fmt.Fprintln(w, "Gatehouse demo")
	fmt.Fprintf(w, "  Sign in at  %s/  (the certificate is self-signed: accept the browser's warning)\n", cfg.Server.PublicURL)
	if password != "" {
		fmt.Fprintf(w, "  Username    %s\n  Password    %s   (shown only this once; stored hashed)\n", demoUsername, password)
	} else {
		fmt.Fprintf(w, "  Username    %s   (its password was printed when it was created; remove the data folder to start over)\n", demoUsername)
	}
	if cfg.Store.Backend == config.StoreBolt {
		fmt.Fprintf(w, "  Data        %s\n", cfg.Store.Bolt.Path)
	}
}
