package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
)

// healthcheckCmd asks a running Gatehouse for /healthz on its main
// listener and exits 0 when it answers 200. It needs no shell or curl, so
// a distroless container's HEALTHCHECK can run it. It reads the
// configuration the way serve does (flag, $GATEHOUSE_CONFIG,
// ./gatehouse.yaml, else the environment, or the demo's defaults).
func healthcheckCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := fs.String("config", "", "configuration file")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := fs.Parse(args); err != nil {
		return exitError{}
	}
	path, found := findConfig(*cfgFlag, getenv)
	cfg, err := loadConfig(path, getenv, stderr)
	if err != nil {
		return err
	}
	if demo, _ := chooseDemo(false, found, cfg, getenv); demo {
		cfg.Server.Listen = demoListenAddr(cfg.Server.Listen)
	}
	target, err := healthURL(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	serverName := ""
	if u, err := url.Parse(cfg.Server.PublicURL); err == nil {
		serverName = u.Hostname() // the certificate Gatehouse serves for its own name
	}
	client := &http.Client{
		Transport: &http.Transport{
			// A liveness probe of the local process over loopback: it sends
			// nothing secret, and the certificate (self-signed, or issued
			// for the public name) cannot match the loopback address.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: serverName}, //nolint:gosec
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", target, err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d", target, res.StatusCode)
	}
	fmt.Fprintf(stdout, "%s: ok\n", target)
	return nil
}

// healthURL is /healthz on the main listener as reached from the same
// machine: an address of every interface becomes loopback, and the
// scheme follows server.tls.mode.
func healthURL(cfg config.Config) (*url.URL, error) {
	host, port, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("server.listen: %w", err)
	}
	if a, err := netip.ParseAddr(host); host == "" || (err == nil && a.IsUnspecified()) {
		host = "127.0.0.1"
		if err == nil && a.Is6() {
			host = "::1"
		}
	}
	scheme := "https"
	if cfg.Server.TLS.Mode == config.TLSOff {
		scheme = "http"
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/healthz"}, nil
}
