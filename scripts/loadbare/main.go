// Command loadbare is the yardstick of scripts/loadtest.sh: the fastest
// Go can answer an HTTP check or proxy a request, to hold Gatehouse's own
// figures against. It also signs a user in through Gatehouse, like a
// browser, and prints the app cookie the load runs send.
//
// Usage:
//
//	loadbare --mode handler --listen 127.0.0.1:9001
//	    an empty 200 for every request (the limit for any HTTP check)
//	loadbare --mode proxy --listen 127.0.0.1:9002 --upstream http://127.0.0.1:9001
//	    httputil.ReverseProxy with a tuned transport (the limit for any
//	    Go proxy)
//	loadbare --mode handler --headers answer.txt ...
//	loadbare --mode proxy --headers answer.txt ...
//	    the same, also sending the headers of answer.txt (a response
//	    head as "curl -D" writes it; Date, Content-Length and
//	    Content-Type are skipped): the handler in its
//	    answer, the proxy on the request it forwards. Fed with Gatehouse's
//	    own forward-auth answer, this is the limit for any check or proxy
//	    that sends the same identity headers. --strip-cookies makes the
//	    proxy drop the Cookie header, as Gatehouse drops its own cookies.
//	loadbare --mode signin --connect 127.0.0.1:8080 --url http://localhost:8080/docs \
//	    --user alice --password demo-password-alice
//	    signs in through Gatehouse (every host name is dialled at
//	    --connect) and prints "name=value" of the app cookie
//	loadbare --mode ports --count 3
//	    prints loopback ports that are free at the moment, one a line
//
// It is not part of Gatehouse and never runs in production.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadbare:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadbare", flag.ContinueOnError)
	mode := fs.String("mode", "handler", "handler, proxy, signin or ports")
	listen := fs.String("listen", "127.0.0.1:0", "address to serve on (handler, proxy)")
	upstream := fs.String("upstream", "", "upstream URL (proxy)")
	connect := fs.String("connect", "", "address every request is sent to (signin)")
	target := fs.String("url", "", "app URL to sign in for (signin)")
	user := fs.String("user", "", "username (signin)")
	password := fs.String("password", "", "password (signin)")
	count := fs.Int("count", 1, "how many ports (ports)")
	headersFile := fs.String("headers", "", "file of header lines to send too (handler, proxy)")
	stripCookies := fs.Bool("strip-cookies", false, "drop the Cookie header from the forwarded request (proxy)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var extra []header
	if *headersFile != "" {
		var err error
		if extra, err = readHeaders(*headersFile); err != nil {
			return err
		}
	}
	switch *mode {
	case "handler":
		return serve(*listen, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if len(extra) > 0 { // w.Header() alone costs a header map clone
				h := w.Header()
				for _, x := range extra {
					h[x.name] = x.value
				}
			}
			// net/http adds "Content-Length: 0" to an empty answer itself.
			w.WriteHeader(http.StatusOK)
		}))
	case "proxy":
		up, err := url.Parse(*upstream)
		if err != nil || up.Scheme == "" || up.Host == "" {
			return fmt.Errorf("--upstream %q: want an absolute URL", *upstream)
		}
		return serve(*listen, &httputil.ReverseProxy{
			Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(up)
				r.SetXForwarded()
				for _, x := range extra {
					r.Out.Header[x.name] = x.value
				}
				if *stripCookies {
					r.Out.Header.Del("Cookie")
				}
			},
			Transport: &http.Transport{
				DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConns:        1024,
				MaxIdleConnsPerHost: 256,
				IdleConnTimeout:     90 * time.Second,
			},
		})
	case "signin":
		cookie, err := signIn(*connect, *target, *user, *password)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, cookie)
		return nil
	case "ports":
		for range *count {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				return fmt.Errorf("find a free port: %w", err)
			}
			defer l.Close() // held until all are listed, so none repeats
			fmt.Fprintln(stdout, l.Addr().(*net.TCPAddr).Port)
		}
		return nil
	}
	return fmt.Errorf("unknown --mode %q", *mode)
}

// header is one header line to send, its value shared by every request
// (net/http only reads it), as Gatehouse shares its prebuilt values.
type header struct {
	name  string
	value []string
}

// readHeaders reads the headers of a response head as "curl -D" writes
// it, skipping those net/http writes itself (Date, Content-Length) or
// that are not identity (Content-Type).
func readHeaders(file string) ([]header, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read --headers: %w", err)
	}
	defer f.Close()
	res, err := http.ReadResponse(bufio.NewReader(f), nil)
	if err != nil {
		return nil, fmt.Errorf("read --headers %s: want a response head: %w", file, err)
	}
	var hs []header
	for name, value := range res.Header {
		switch name {
		case "Date", "Content-Length", "Content-Type":
			continue
		}
		hs = append(hs, header{name: name, value: value})
	}
	slices.SortFunc(hs, func(a, b header) int { return strings.Compare(a.name, b.name) })
	return hs, nil
}

// serve runs h on addr until SIGINT or SIGTERM.
func serve(addr string, h http.Handler) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

var (
	csrfRE     = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	rdRE       = regexp.MustCompile(`name="rd" value="([^"]*)"`)
	formRE     = regexp.MustCompile(`<form method="post" action="([^"]+)">`)
	continueRE = regexp.MustCompile(`<a id="continue" href="([^"]+)"`)
)

// signIn walks a browser's sign-in for target through Gatehouse and
// returns the app cookie (name=value) it ends with.
func signIn(connect, target, user, password string) (string, error) {
	if connect == "" || target == "" || user == "" {
		return "", errors.New("signin needs --connect, --url and --user")
	}
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &http.Client{
		Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, connect)
		}},
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	next := target
	for range 16 {
		status, loc, body, err := fetch(c, http.MethodGet, next, nil)
		if err != nil {
			return "", err
		}
		switch {
		case status == http.StatusOK && next == target:
			return appCookie(jar, target)
		case status == http.StatusFound || status == http.StatusSeeOther:
			next, err = resolve(next, loc)
		case status == http.StatusOK && csrfRE.MatchString(body) && formRE.MatchString(body) && rdRE.MatchString(body):
			var action string
			if action, err = resolve(next, html.UnescapeString(formRE.FindStringSubmatch(body)[1])); err != nil {
				return "", err
			}
			form := url.Values{
				"csrf_token": {csrfRE.FindStringSubmatch(body)[1]},
				"rd":         {html.UnescapeString(rdRE.FindStringSubmatch(body)[1])},
				"username":   {user}, "password": {password},
			}
			status, loc, _, err = fetch(c, http.MethodPost, action, form)
			if err != nil {
				return "", err
			}
			if status != http.StatusSeeOther && status != http.StatusFound {
				return "", fmt.Errorf("sign-in as %s refused (%d): wrong password?", user, status)
			}
			next, err = resolve(action, loc)
		case status == http.StatusOK && continueRE.MatchString(body):
			next = html.UnescapeString(continueRE.FindStringSubmatch(body)[1])
		default:
			return "", fmt.Errorf("GET %s: unexpected %d during sign-in", next, status)
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("sign-in did not finish")
}

func fetch(c *http.Client, method, target string, form url.Values) (status int, location, body string, err error) {
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		return 0, "", "", fmt.Errorf("%s %s: %w", method, target, err)
	}
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		return 0, "", "", fmt.Errorf("%s %s: %w", method, target, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return 0, "", "", fmt.Errorf("%s %s: read: %w", method, target, err)
	}
	return res.StatusCode, res.Header.Get("Location"), string(b), nil
}

func resolve(base, ref string) (string, error) {
	b, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", base, err)
	}
	r, err := url.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("parse Location %q: %w", ref, err)
	}
	return b.ResolveReference(r).String(), nil
}

// appCookie returns the gateway's cookie for target's host.
func appCookie(jar http.CookieJar, target string) (string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return "", fmt.Errorf("parse %q: %w", target, err)
	}
	for _, c := range jar.Cookies(u) {
		if strings.Contains(c.Name, "gatehouse_app") && !strings.Contains(c.Name, "_flow_") {
			return c.Name + "=" + c.Value, nil
		}
	}
	return "", fmt.Errorf("signed in, but no app cookie for %s", u.Host)
}
