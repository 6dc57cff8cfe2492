package authn

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// f2bHost is fail2ban's <HOST> (an IPv4 or IPv6 address) as a Go regular
// expression with the same group name.
const f2bHost = `(?P<host>(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]*:[0-9A-Fa-f:.]+)`

// filterRegexes reads the failregex lines of the shipped fail2ban filter.
func filterRegexes(tb testing.TB) []*regexp.Regexp {
	tb.Helper()
	raw, err := os.ReadFile("../../examples/fail2ban/filter.d/gatehouse.conf")
	if err != nil {
		tb.Fatal(err)
	}
	var out []*regexp.Regexp
	in := false
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "failregex"):
			in = true
			_, line, _ = strings.Cut(line, "=")
		case in && (line == "" || !strings.HasPrefix(line, " ")):
			in = false
		}
		if in && strings.TrimSpace(line) != "" {
			out = append(out, regexp.MustCompile(strings.ReplaceAll(strings.TrimSpace(line), "<HOST>", f2bHost)))
		}
	}
	if len(out) != 2 {
		tb.Fatalf("%d failregex lines, want 2 (text and json)", len(out))
	}
	return out
}

// FuzzFailedLogFilter: whatever a client puts into the login name (and
// whatever a method gives as its name or reason), the shipped fail2ban
// filter finds exactly the client's address in a failed sign-in line, in
// both log formats.
func FuzzFailedLogFilter(f *testing.F) {
	regexes := filterRegexes(f)
	for _, s := range []string{"alice", `mallory client_ip=192.0.2.66 "x`, `x","client_ip":"192.0.2.67`,
		"a\nmsg=\"sign-in failed\" client_ip=192.0.2.1", "\x00\xff", `\" client_ip=1.1.1.1`} {
		f.Add(s, "invalid credentials", "203.0.113.7")
		f.Add(s, s, "2001:db8::7")
	}
	f.Fuzz(func(t *testing.T, login, reason, ip string) {
		if ip != "203.0.113.7" && ip != "2001:db8::7" {
			ip = "198.51.100.9"
		}
		for _, format := range []string{"text", "json"} {
			var buf bytes.Buffer
			h := slog.Handler(slog.NewTextHandler(&buf, nil))
			if format == "json" {
				h = slog.NewJSONHandler(&buf, nil)
			}
			d := &Dispatcher{log: slog.New(h), o: Options{ClientIP: func(*http.Request) string { return ip }}}
			d.failed(httptest.NewRequest("POST", "/login", nil), "password", login, reason)
			line := strings.TrimSuffix(buf.String(), "\n")
			var hosts []string
			for _, re := range regexes {
				for _, m := range re.FindAllStringSubmatch(line, -1) {
					hosts = append(hosts, m[re.SubexpIndex("host")])
				}
			}
			if len(hosts) != 1 || hosts[0] != ip {
				t.Fatalf("%s: hosts %q, want [%s] in %s", format, hosts, ip, line)
			}
		}
	})
}
