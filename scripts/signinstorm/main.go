// Command signinstorm measures Gatehouse's memory under a sign-in storm: it
// starts the gatehouse binary, opens N sign-in forms, posts them all at once
// with the right password, and reports the answers and the process's peak
// resident memory (VmHWM from /proc/<pid>/status, Linux only).
//
//	go build -o /tmp/gatehouse ./cmd/gatehouse
//	go run ./scripts/signinstorm --binary /tmp/gatehouse --n 200
//
// Gatehouse runs examples/forward-auth.yaml with an in-memory store on a
// free loopback port; GATEHOUSE_* variables in the environment reach it
// (for example GATEHOUSE_PASSWORD_MAX_CONCURRENT=4), and so do GOGC and
// GOMEMLIMIT.
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
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "signinstorm:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("signinstorm", flag.ContinueOnError)
	binary := fs.String("binary", "", "the gatehouse binary to start (required)")
	config := fs.String("config", "examples/forward-auth.yaml", "the configuration it runs")
	n := fs.Int("n", 200, "sign-ins posted at once")
	user := fs.String("user", "alice", "login name")
	password := fs.String("password", "demo-password-alice", "password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" {
		return errors.New("--binary is required")
	}
	if *n < 1 || *n > 5000 {
		return errors.New("--n must be 1 to 5000")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	base := "http://" + addr

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, *binary, "serve", "--config", *config)
	cmd.Env = append(os.Environ(),
		"GATEHOUSE_SERVER_PUBLIC_URL="+base,
		"GATEHOUSE_SERVER_LISTEN="+addr,
		"GATEHOUSE_STORE_BACKEND=memory",
		"GATEHOUSE_LOG_LEVEL=error",
	)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", *binary, err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	}()
	pid := cmd.Process.Pid
	if err := waitUp(base); err != nil {
		return fmt.Errorf("%w\n%s", err, logs.String())
	}

	// Open every form first: the storm is the password checks only.
	forms := make([]*form, *n)
	for i := range forms {
		if forms[i], err = open(base); err != nil {
			return fmt.Errorf("opening sign-in form %d: %w", i, err)
		}
	}
	idle, err := status(pid)
	if err != nil {
		return err
	}

	start := make(chan struct{})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		answers  = map[string]int{}
		done     atomic.Bool
		peakRSS  atomic.Int64
		sampling sync.WaitGroup
	)
	sampling.Add(1)
	go func() { // VmHWM is the peak; VmRSS sampled shows the shape.
		defer sampling.Done()
		for !done.Load() {
			if s, err := status(pid); err == nil && s.rss > peakRSS.Load() {
				peakRSS.Store(s.rss)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for _, f := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a := f.submit(*user, *password)
			mu.Lock()
			answers[a]++
			mu.Unlock()
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)
	done.Store(true)
	sampling.Wait()
	after, err := status(pid)
	if err != nil {
		return err
	}

	keys := make([]string, 0, len(answers))
	for k := range answers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(stdout, "sign-ins posted at once: %d, all answered in %v\n", *n, took.Round(time.Millisecond))
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-40s %d\n", k, answers[k])
	}
	fmt.Fprintf(stdout, "resident memory before the storm: %d MiB\n", idle.rss>>10)
	fmt.Fprintf(stdout, "resident memory after the storm:  %d MiB\n", after.rss>>10)
	fmt.Fprintf(stdout, "peak resident memory (VmHWM):     %d MiB\n", after.hwm>>10)
	return nil
}

// proc is what /proc/<pid>/status says of memory, in KiB.
type proc struct{ rss, hwm int64 }

func status(pid int) (proc, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return proc{}, fmt.Errorf("reading the process's memory (Linux only): %w", err)
	}
	defer f.Close()
	var p proc
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		switch name {
		case "VmRSS":
			p.rss = v
		case "VmHWM":
			p.hwm = v
		}
	}
	return p, sc.Err()
}

func waitUp(base string) error {
	for range 150 {
		if res, err := http.Get(base + "/login"); err == nil {
			res.Body.Close()
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("gatehouse did not start within 15 s")
}

var (
	csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)
	rdRE   = regexp.MustCompile(`name="rd" value="([^"]*)"`)
)

// form is one browser's open sign-in form.
type form struct {
	c        *http.Client
	action   string
	csrf, rd string
}

func open(base string) (*form, error) {
	jar, _ := cookiejar.New(nil) // never fails without options
	c := &http.Client{
		Jar:           jar,
		Timeout:       5 * time.Minute,
		Transport:     &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 1},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := c.Get(base + "/login")
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	m, r := csrfRE.FindSubmatch(b), rdRE.FindSubmatch(b)
	if res.StatusCode != http.StatusOK || m == nil || r == nil {
		return nil, fmt.Errorf("GET /login: %d, no sign-in form", res.StatusCode)
	}
	return &form{c: c, action: base + "/login", csrf: html.UnescapeString(string(m[1])), rd: html.UnescapeString(string(r[1]))}, nil
}

// submit posts the form and names the answer.
func (f *form) submit(user, password string) string {
	v := url.Values{"csrf_token": {f.csrf}, "rd": {f.rd}, "username": {user}, "password": {password}}
	res, err := f.c.PostForm(f.action, v)
	if err != nil {
		return "error: " + err.Error()
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	a := fmt.Sprintf("%d", res.StatusCode)
	switch {
	case res.StatusCode == http.StatusSeeOther:
		a += " signed in"
	case res.Header.Get("Retry-After") != "":
		a += " Retry-After: " + res.Header.Get("Retry-After")
	}
	return a
}
