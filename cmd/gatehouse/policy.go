package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/policy"
)

const policyUsage = `usage: gatehouse policy explain [flags]

Prints which gateway rule decides a request and why.

  --config FILE      configuration file (default: $GATEHOUSE_CONFIG or ./gatehouse.yaml)
  --url URL          the request URL, e.g. https://app.example.com/admin (required)
  --method METHOD    HTTP method (default GET)
  --user LOGIN       a user of the configuration file, by username, e-mail or id;
                     omit for an anonymous request
  --client ID        the OAuth client of the bearer token; without --user, a
                     service client's own token (client_credentials: no person)
  --ip ADDR          client address (default 127.0.0.1)
  --scopes a,b       scopes the request holds (from a bearer token or the session)
  --amr pwd,otp      authentication methods of the sign-in (default pwd)
  --auth-age DUR     time since the user signed in (default 0s)
`

// policyCmd runs `gatehouse policy explain`.
func policyCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "explain" {
		fmt.Fprint(stderr, policyUsage)
		return exitError{}
	}
	fs := flag.NewFlagSet("policy explain", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	cfgFlag := fs.String("config", "", "")
	rawURL := fs.String("url", "", "")
	method := fs.String("method", "GET", "")
	login := fs.String("user", "", "")
	client := fs.String("client", "", "")
	ip := fs.String("ip", "127.0.0.1", "")
	scopes := fs.String("scopes", "", "")
	amr := fs.String("amr", "pwd", "")
	authAge := fs.Duration("auth-age", 0, "")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError{}
	}
	path, found := findConfig(*cfgFlag, getenv)
	if !found {
		fmt.Fprintln(stderr, "gatehouse policy explain: no configuration file: pass --config FILE, set GATEHOUSE_CONFIG or create ./gatehouse.yaml")
		return exitError{}
	}
	cfg, err := loadConfig(path, getenv, stderr)
	if err != nil {
		return err
	}
	p, err := config.CompilePolicy(cfg.Gateway.Rules)
	if err != nil {
		return err // validate already listed it; kept for safety
	}

	u, err := url.Parse(*rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("--url: want an absolute http(s) URL such as https://app.example.com/admin, got %q", *rawURL)
	}
	normPath, err := policy.NormalizePath(u.EscapedPath())
	if err != nil {
		fmt.Fprintf(stdout, "path %q is refused before any rule: %v (Gatehouse answers 400)\n", u.EscapedPath(), err)
		return nil
	}
	addr, err := netip.ParseAddr(*ip)
	if err != nil {
		return fmt.Errorf("--ip: %w", err)
	}
	req := policy.Request{Host: u.Host, Path: normPath, Method: strings.ToUpper(*method), ClientIP: addr}

	now := time.Now()
	var sub *policy.Subject
	if *login != "" {
		cu, ok := findConfigUser(cfg.Users, *login)
		if !ok {
			return fmt.Errorf("--user: %q is not a user of %s (users created at run time live in the store and cannot be explained offline)", *login, path)
		}
		sub = &policy.Subject{
			Authenticated: true, UserID: cu.ID, Username: cu.Username, Email: cu.Email,
			EmailVerified: cu.EmailVerified, Groups: cu.Groups, Scopes: splitList(*scopes),
			AMR: splitList(*amr), AuthTime: now.Add(-*authAge),
		}
		if cu.Disabled {
			fmt.Fprintf(stdout, "note: %s is disabled and cannot sign in\n", cu.Username)
		}
		sub.Client = *client
	} else if *client != "" {
		sub = &policy.Subject{
			Authenticated: true, Service: true, Client: *client, UserID: "client:" + *client,
			Scopes: splitList(*scopes),
		}
	}
	fmt.Fprintf(stdout, "%s %s://%s%s", req.Method, u.Scheme, u.Host, normPath)
	switch {
	case sub != nil && sub.Service:
		fmt.Fprintf(stdout, " as service client %s\n", sub.Client)
	case sub != nil:
		fmt.Fprintf(stdout, " as %s\n", sub.Username)
	default:
		fmt.Fprintln(stdout, " (anonymous)")
	}
	fmt.Fprint(stdout, p.Explain(req, sub, now).String())
	return nil
}

func findConfigUser(users []config.User, login string) (config.User, bool) {
	for _, u := range users {
		if u.ID == login || strings.EqualFold(u.Username, login) || (u.Email != "" && strings.EqualFold(u.Email, login)) {
			return u, true
		}
	}
	return config.User{}, false
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
