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

	st, err := openStore(cfg.Store, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := st.Close(); err != nil {
			log.Error("close store", "err", err)
		}
	}()

	// Every listener runs until ctx ends or one of them fails.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		tlsCfg *tls.Config
		acme   *server.ACMEManager
	)
	if cfg.Server.TLS.Mode == config.TLSACME {
		if acme, err = newACME(ctx, cfg, st, log); err != nil {
			return fmt.Errorf("server.tls.acme: %w", err)
		}
		tlsCfg = acme.TLSConfig()
	} else if tlsCfg, err = tlsConfig(cfg.Server.TLS, time.Now()); err != nil {
		return err
	}
	// bound counts the listeners still to bind; ACME starts obtaining
	// certificates only once they are, so the CA's challenges reach us.
	var bound sync.WaitGroup
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	start := func(name string, h http.Handler, o server.Options) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := server.Serve(ctx, h, o, log); err != nil {
				errc <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}
	base := server.Options{
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout.D(),
		ReadTimeout:       cfg.Server.ReadTimeout.D(),
		WriteTimeout:      cfg.Server.WriteTimeout.D(),
		IdleTimeout:       cfg.Server.IdleTimeout.D(),
		MaxHeaderBytes:    cfg.Server.MaxHeaderBytes,
		ShutdownTimeout:   cfg.Server.ShutdownTimeout.D(),
	}

	var demoURL *url.URL
	if cfg.Demo.Enabled {
		ready := make(chan net.Addr, 1)
		o := base
		o.Addr = "127.0.0.1:0"
		o.Ready = func(a net.Addr) { ready <- a }
		start("demo upstream", demo.Whoami(), o)
		select {
		case a := <-ready:
			demoURL = &url.URL{Scheme: "http", Host: a.String()}
		case err := <-errc:
			return err
		}
	}

	a, err := newApp(ctx, cfg, st, log, demoURL)
	if err != nil {
		cancel()
		wg.Wait()
		return err
	}
	if cfg.Demo.Enabled {
		password, err := ensureDemoUser(ctx, a.users)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		printDemo(stdout, cfg, password)
	}

	main := base
	main.Addr = cfg.Server.Listen
	main.TLS = tlsCfg
	bound.Add(1)
	main.Ready = func(addr net.Addr) {
		defer bound.Done()
		log.Info("gatehouse listening", "addr", addr.String(), "tls", cfg.Server.TLS.Mode, "public_url", cfg.Server.PublicURL, "version", version)
		fmt.Fprintf(stdout, "Gatehouse is listening on %s. Open %s/\n", addr, cfg.Server.PublicURL)
	}
	start("main listener", a.handler, main)
	if cfg.Server.HTTPListen != "" {
		public, _ := url.Parse(cfg.Server.PublicURL)
		o := base
		o.Addr = cfg.Server.HTTPListen
		bound.Add(1)
		o.Ready = func(net.Addr) { bound.Done() }
		var h http.Handler = server.RedirectToHTTPS(public)
		if acme != nil {
			h = acme.HTTPHandler(h) // answers HTTP-01 challenges
		}
		start("http redirect listener", server.Middleware(h, log), o)
	}
	if acme != nil {
		go func() {
			bound.Wait()
			if err := acme.Manage(ctx); err != nil {
				log.Error("certificates not obtained yet; retrying in the background", "err", err)
			}
		}()
	}

	<-ctx.Done()
	log.Info("shutting down: draining in-flight requests", "timeout", cfg.Server.ShutdownTimeout.String())
	wg.Wait()
	// Back-channel logouts already started get the shutdown budget too.
	drain, stop := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.D())
	if err := a.oidc.Close(drain); err != nil {
		log.Warn("back-channel logouts still pending at shutdown", "err", err)
	}
	stop()
	close(errc)
	var errs []error
	for err := range errc {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
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
