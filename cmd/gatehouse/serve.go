package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/demo"
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
	if !found && !*demoFlag {
		fmt.Fprintf(stdout, "No configuration file found (--config, $GATEHOUSE_CONFIG or ./%s): starting the demo.\n", defaultConfigFile)
	}
	cfg, err := loadConfig(path, getenv, stderr)
	if err != nil {
		return err
	}
	if *demoFlag || !found {
		cfg.Demo.Enabled = true
	}
	log := newLogger(cfg.Log, stderr)

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

	a, err := newApp(g.ctx, cfg, st, log, demoURL)
	if err != nil {
		return errors.Join(err, g.stop())
	}
	if cfg.Demo.Enabled {
		password, err := ensureDemoUser(g.ctx, a.users)
		if err != nil {
			return errors.Join(err, g.stop())
		}
		printDemo(stdout, cfg, password)
	}
	for _, act := range a.actors() {
		g.start(act)
	}

	// bound counts the listeners still to bind; ACME starts obtaining
	// certificates only once they are, so the CA's challenges reach us.
	var bound sync.WaitGroup
	main := base
	main.Addr = cfg.Server.Listen
	main.TLS = tlsCfg
	bound.Add(1)
	main.Ready = func(addr net.Addr) {
		defer bound.Done()
		log.Info("gatehouse listening", "addr", addr.String(), "tls", cfg.Server.TLS.Mode, "public_url", cfg.Server.PublicURL, "version", version)
		fmt.Fprintf(stdout, "Gatehouse is listening on %s. Open %s/\n", addr, cfg.Server.PublicURL)
	}
	g.start(listener("main listener", a.handler, main))
	if cfg.Server.HTTPListen != "" {
		public, _ := url.Parse(cfg.Server.PublicURL)
		o := base
		o.Addr = cfg.Server.HTTPListen
		bound.Add(1)
		o.Ready = func(net.Addr) { bound.Done() }
		var h http.Handler = server.RedirectToHTTPS(public, a.gateway.RouteHost)
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

	<-g.ctx.Done()
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	err = g.wait()
	// Work the components still hold (back-channel logouts already
	// started) gets the shutdown budget too.
	drain, stop := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	if cerr := a.close(drain); cerr != nil {
		log.Warn("shutdown", "err", cerr)
	}
	stop()
	if err != nil {
		return err
	}
	log.Info("stopped")
	return nil
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
