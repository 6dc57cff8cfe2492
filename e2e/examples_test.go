package e2e

import (
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/proxy"
)

// answerHeaders are the identity headers a forward-auth answer may carry:
// what every proxy example must copy onto the request to the app.
var answerHeaders = []string{
	proxy.HeaderForwardedUser, proxy.HeaderForwardedEmail, proxy.HeaderForwardedGroups,
	proxy.HeaderForwardedPreferredUsername, proxy.HeaderRemoteUser, proxy.HeaderRemoteEmail,
	proxy.HeaderRemoteGroups, proxy.HeaderRemoteName, proxy.HeaderAssertion, proxy.HeaderAccessToken,
}

func lower(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		out = append(out, strings.ToLower(n))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// forwardAuthConfig loads examples/forward-auth.yaml as Gatehouse does.
func forwardAuthConfig(t *testing.T) config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(build.root, "examples", "forward-auth.yaml"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("examples/forward-auth.yaml: %v", err)
	}
	return cfg
}

// TestExamples_ForwardAuthConfigIsValid: gatehouse validate accepts
// examples/forward-auth.yaml, which names the hosts the proxy examples
// serve.
func TestExamples_ForwardAuthConfigIsValid(t *testing.T) {
	out, err := exec.Command(build.gatehouse, "validate", "--config",
		filepath.Join(build.root, "examples", "forward-auth.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("gatehouse validate: %v\n%s", err, out)
	}
	cfg := forwardAuthConfig(t)
	pub, _ := url.Parse(cfg.Server.PublicURL)
	if pub.Host != "127.0.0.1:8080" || cfg.Server.Listen != "127.0.0.1:9091" || cfg.Server.TLS.Mode != config.TLSOff {
		t.Errorf("forward-auth.yaml: public_url %s, listen %s, tls %s; the proxy examples expect "+
			"http://127.0.0.1:8080, 127.0.0.1:9091 and off", cfg.Server.PublicURL, cfg.Server.Listen, cfg.Server.TLS.Mode)
	}
	for i, r := range cfg.Gateway.Rules {
		if !slices.Equal(r.Hosts, []string{"localhost"}) {
			t.Errorf("rule %d names hosts %q; the proxy examples serve the app as localhost", i, r.Hosts)
		}
	}
}

// TestExamples_NginxMatchesGatehouse: nginx.conf copies every header of a
// forward-auth answer, overwrites every identity header a client could
// send, and talks to Gatehouse where forward-auth.yaml listens.
func TestExamples_NginxMatchesGatehouse(t *testing.T) {
	for _, name := range []string{"nginx/nginx.conf", "nginx/gatehouse.conf"} {
		conf := example(t, name)
		var copied []string
		for _, m := range regexp.MustCompile(`\$upstream_http_([a-z_]+)`).FindAllStringSubmatch(conf, -1) {
			if m[1] != "x_gatehouse_location" {
				copied = append(copied, strings.ReplaceAll(m[1], "_", "-"))
			}
		}
		if got, want := lower(copied), lower(answerHeaders); !slices.Equal(got, want) {
			t.Errorf("%s copies %q from the auth answer; want %q", name, got, want)
		}
		var set []string
		for _, m := range regexp.MustCompile(`(?m)^\s*proxy_set_header\s+(\S+)`).FindAllStringSubmatch(conf, -1) {
			set = append(set, strings.ToLower(m[1]))
		}
		for _, id := range identityNames {
			if !slices.Contains(set, id) {
				t.Errorf("%s never sets %s, so a client's copy would reach the app", name, id)
			}
		}
		if !strings.Contains(conf, "server "+forwardAuthConfig(t).Server.Listen+";") {
			t.Errorf("%s's upstream gatehouse is not forward-auth.yaml's listen address", name)
		}
		if !strings.Contains(conf, "underscores_in_headers off;") {
			t.Errorf("%s must keep underscores_in_headers off", name)
		}
		if !strings.Contains(conf, "error_page 403 = @gh_denied;") || !strings.Contains(conf, "rewrite ^ /.gatehouse/denied? break;") {
			t.Errorf("%s does not send refusals to Gatehouse's not-allowed page", name)
		}
	}
	// The host variant listens where forward-auth.yaml's public_url says.
	pub, err := url.Parse(forwardAuthConfig(t).Server.PublicURL)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(example(t, "nginx/gatehouse.conf"), "listen "+pub.Port()+" default_server;") {
		t.Errorf("nginx/gatehouse.conf does not listen on public_url's port %s", pub.Port())
	}
}

// TestExamples_CaddyAndTraefikAlike: the Traefik example, which cannot be
// run here, has the shape of the Caddy one, which TestCaddy runs: the
// same headers copied from Gatehouse's answer, the same identity headers
// dropped first, Gatehouse's paths on the app's host sent to Gatehouse
// with the app's Host, and the same addresses.
func TestExamples_CaddyAndTraefikAlike(t *testing.T) {
	caddyfile := example(t, "caddy/Caddyfile")
	m := regexp.MustCompile(`(?m)^\s*copy_headers (.+)$`).FindStringSubmatch(caddyfile)
	if m == nil {
		t.Fatal("Caddyfile has no copy_headers")
	}
	if got, want := lower(strings.Fields(m[1])), lower(answerHeaders); !slices.Equal(got, want) {
		t.Errorf("Caddyfile copies %q; want %q", got, want)
	}
	var dropped []string
	for _, m := range regexp.MustCompile(`(?m)^\s*request_header -(\S+)$`).FindAllStringSubmatch(caddyfile, -1) {
		dropped = append(dropped, strings.ToLower(m[1]))
	}
	if !slices.Contains(dropped, "*_*") {
		t.Errorf("Caddyfile does not drop header names with underscores (request_header -*_*)")
	}
	dropsCaddy := func(name string) bool {
		return slices.ContainsFunc(dropped, func(p string) bool {
			prefix, wild := strings.CutSuffix(p, "*")
			return p == name || wild && strings.HasPrefix(name, prefix)
		})
	}
	for _, name := range identityNames {
		if !dropsCaddy(name) {
			t.Errorf("Caddyfile does not drop a client's %s", name)
		}
	}
	listen := forwardAuthConfig(t).Server.Listen
	for _, want := range []string{"uri /.gatehouse/auth/caddy", "handle /.gatehouse/*", "{$GATEHOUSE:" + listen + "}",
		"{$APP_SITE:http://localhost:8080}", "{$AUTH_SITE:http://127.0.0.1:8080}"} {
		if !strings.Contains(caddyfile, want) {
			t.Errorf("Caddyfile lacks %q", want)
		}
	}

	var dyn struct {
		HTTP struct {
			Routers map[string]struct {
				Rule        string   `yaml:"rule"`
				Priority    int      `yaml:"priority"`
				EntryPoints []string `yaml:"entryPoints"`
				Middlewares []string `yaml:"middlewares"`
				Service     string   `yaml:"service"`
			} `yaml:"routers"`
			Middlewares map[string]struct {
				Headers *struct {
					CustomRequestHeaders map[string]string `yaml:"customRequestHeaders"`
				} `yaml:"headers"`
				ForwardAuth *struct {
					Address             string   `yaml:"address"`
					TrustForwardHeader  bool     `yaml:"trustForwardHeader"`
					AuthResponseHeaders []string `yaml:"authResponseHeaders"`
				} `yaml:"forwardAuth"`
			} `yaml:"middlewares"`
			Services map[string]struct {
				LoadBalancer struct {
					PassHostHeader bool `yaml:"passHostHeader"`
					Servers        []struct {
						URL string `yaml:"url"`
					} `yaml:"servers"`
				} `yaml:"loadBalancer"`
			} `yaml:"services"`
		} `yaml:"http"`
	}
	dec := yaml.NewDecoder(strings.NewReader(example(t, "traefik/dynamic.yml")))
	dec.KnownFields(true)
	if err := dec.Decode(&dyn); err != nil {
		t.Fatalf("traefik/dynamic.yml: %v", err)
	}
	h := dyn.HTTP
	fa := h.Middlewares["gatehouse"].ForwardAuth
	if fa == nil {
		t.Fatal("dynamic.yml: no forwardAuth middleware called gatehouse")
	}
	if fa.Address != "http://"+listen+"/.gatehouse/auth/traefik" || fa.TrustForwardHeader {
		t.Errorf("forwardAuth address %q, trustForwardHeader %v; want http://%s/.gatehouse/auth/traefik, false", fa.Address, fa.TrustForwardHeader, listen)
	}
	if got, want := lower(fa.AuthResponseHeaders), lower(answerHeaders); !slices.Equal(got, want) {
		t.Errorf("authResponseHeaders %q; want %q (as the Caddyfile's copy_headers)", got, want)
	}
	strip := h.Middlewares["strip-identity"].Headers
	if strip == nil {
		t.Fatal("dynamic.yml: no headers middleware called strip-identity")
	}
	for _, name := range identityNames {
		found := false
		for k, v := range strip.CustomRequestHeaders {
			found = found || strings.EqualFold(k, name) && v == ""
		}
		if !found {
			t.Errorf("strip-identity does not delete %s", name)
		}
	}
	for _, name := range answerHeaders {
		u := strings.ReplaceAll(name, "-", "_")
		if v, ok := strip.CustomRequestHeaders[u]; !ok || v != "" {
			t.Errorf("strip-identity does not delete %s", u)
		}
	}
	app, paths := h.Routers["app"], h.Routers["app-gatehouse-paths"]
	if !slices.Equal(app.Middlewares, []string{"strip-identity", "gatehouse"}) || app.Rule != "Host(`localhost`)" {
		t.Errorf("app router: rule %q, middlewares %q; want Host(`localhost`), [strip-identity gatehouse]", app.Rule, app.Middlewares)
	}
	if paths.Rule != "Host(`localhost`) && PathPrefix(`/.gatehouse/`)" || paths.Priority <= app.Priority ||
		paths.Service != "gatehouse" || len(paths.Middlewares) != 0 {
		t.Errorf("router for Gatehouse's paths on the app host: %+v; want /.gatehouse/ on localhost, no middlewares, above the app's priority", paths)
	}
	if r := h.Routers["gatehouse"]; r.Rule != "Host(`127.0.0.1`)" || r.Service != "gatehouse" {
		t.Errorf("Gatehouse's own site router: %+v", r)
	}
	gs := h.Services["gatehouse"].LoadBalancer
	if !gs.PassHostHeader || len(gs.Servers) != 1 || gs.Servers[0].URL != "http://"+listen {
		t.Errorf("gatehouse service: %+v; want http://%s with passHostHeader", gs, listen)
	}

	var static struct {
		EntryPoints map[string]struct {
			Address string `yaml:"address"`
		} `yaml:"entryPoints"`
		Providers struct {
			File struct {
				Filename string `yaml:"filename"`
			} `yaml:"file"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal([]byte(example(t, "traefik/traefik.yml")), &static); err != nil {
		t.Fatalf("traefik/traefik.yml: %v", err)
	}
	if static.EntryPoints["web"].Address != ":8080" || static.Providers.File.Filename != "dynamic.yml" {
		t.Errorf("traefik.yml: %+v; want entry point web on :8080 and the file provider on dynamic.yml", static)
	}
}

// TestExamples_DockerCompose: the compose file (which no test can run
// here: no Docker daemon) mounts the example files that the other tests
// run, builds the repository's Dockerfile, and names the app as nginx.conf
// expects it.
func TestExamples_DockerCompose(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Image string `yaml:"image"`
			Build *struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			NetworkMode string   `yaml:"network_mode"`
			Command     []string `yaml:"command"`
			Ports       []string `yaml:"ports"`
			Volumes     []string `yaml:"volumes"`
			DependsOn   []string `yaml:"depends_on"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	dir := filepath.Join(build.root, "examples", "docker-compose")
	dec := yaml.NewDecoder(strings.NewReader(example(t, "docker-compose/docker-compose.yml")))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// Every bind-mounted file exists.
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, ".") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("service %s mounts undeclared volume %q", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, src)); err != nil {
				t.Errorf("service %s mounts %s: %v", name, src, err)
			}
		}
	}
	gh, ngx, app := c.Services["gatehouse"], c.Services["nginx"], c.Services["app"]
	if gh.Build == nil {
		t.Fatal("the gatehouse service is not built from the repository")
	}
	if _, err := os.Stat(filepath.Join(dir, gh.Build.Context, gh.Build.Dockerfile)); err != nil {
		t.Errorf("gatehouse build: %v", err)
	}
	if gh.NetworkMode != "service:nginx" || !slices.Contains(gh.Volumes, "../forward-auth.yaml:/etc/gatehouse/forward-auth.yaml:ro") ||
		!slices.Equal(gh.Command, []string{"serve", "--config", "/etc/gatehouse/forward-auth.yaml"}) {
		t.Errorf("gatehouse service: %+v", gh)
	}
	if !slices.Contains(ngx.Volumes, "../nginx/nginx.conf:/etc/nginx/nginx.conf:ro") || !slices.Equal(ngx.Ports, []string{"127.0.0.1:8080:80"}) {
		t.Errorf("nginx service: %+v", ngx)
	}
	if !strings.HasPrefix(app.Image, "traefik/whoami") || !strings.Contains(example(t, "nginx/nginx.conf"), "server app:80;") {
		t.Errorf("app service %+v does not match nginx.conf's upstream app (app:80)", app)
	}
}
