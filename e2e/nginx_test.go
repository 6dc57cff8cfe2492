package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
)

// TestNginx runs examples/nginx/nginx.conf (auth_request) in front of
// Gatehouse, configured with examples/forward-auth.yaml, and an app.
func TestNginx(t *testing.T) {
	nginx := need(t, "nginx", "apt-get install -y nginx")
	dir := t.TempDir()
	s := newStack(t, dir, true)

	// The example as it is, but for the addresses and for logs and temp
	// files kept in this test's directory.
	conf := rewrite(t, example(t, "nginx/nginx.conf"),
		"listen 80", "listen "+s.proxy,
		"server 127.0.0.1:9091;", "server "+s.relay.addr()+";",
		"server app:80;", "server "+s.up.addr()+";",
		"\nhttp {\n", fmt.Sprintf("\nhttp {\n    access_log %[1]s/access.log;\n"+
			"    client_body_temp_path %[1]s/client_body;\n    proxy_temp_path %[1]s/proxy;\n"+
			"    fastcgi_temp_path %[1]s/fastcgi;\n    uwsgi_temp_path %[1]s/uwsgi;\n    scgi_temp_path %[1]s/scgi;\n", dir),
	)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	global := fmt.Sprintf("daemon off; pid %s/nginx.pid;", dir)
	if os.Geteuid() == 0 {
		// Workers would otherwise run as nobody, who cannot write the
		// temp directories inside this test's private directory.
		global += " user root;"
	}
	errorLog := filepath.Join(dir, "error.log")
	p := startProc(t, "nginx", dir, nil, nginx, "-p", dir+"/", "-c", confPath, "-e", errorLog, "-g", global)
	p.logs = append(p.logs, errorLog)
	p.waitListening(t, s.proxy)

	s.exercise(t)
}

// TestNginxHost runs examples/nginx/gatehouse.conf, the variant for nginx
// on a host, byte for byte: included, as conf.d files are, from a
// minimal nginx.conf that only keeps nginx's own logs, pid and temp files
// in this test's directory. Its addresses are fixed, as the file says:
// nginx on :8080, Gatehouse (examples/forward-auth.yaml) behind
// 127.0.0.1:9091 (a connection counter there relays to it), the app on
// 127.0.0.1:3000.
func TestNginxHost(t *testing.T) {
	nginx := need(t, "nginx", "apt-get install -y nginx")
	for _, addr := range []string{"127.0.0.1:8080", "127.0.0.1:9091", "127.0.0.1:3000"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			msg := fmt.Sprintf("%s is taken (%v): the host example's addresses are fixed", addr, err)
			if ci := os.Getenv("CI"); ci != "" && ci != "false" && ci != "0" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
		l.Close()
	}
	dir := t.TempDir()
	up := newUpstreamAt(t, "127.0.0.1:3000")
	s := &stack{app: "http://localhost:8080", auth: "http://127.0.0.1:8080", proxy: "127.0.0.1:8080", up: up, internalAuth: true}
	s.relay = newConnCounterAt(t, "127.0.0.1:9091", startGatehouse(t, dir, s.auth))

	conf := fmt.Sprintf("events {}\nhttp {\n    access_log %[1]s/access.log;\n"+
		"    client_body_temp_path %[1]s/client_body;\n    proxy_temp_path %[1]s/proxy;\n"+
		"    fastcgi_temp_path %[1]s/fastcgi;\n    uwsgi_temp_path %[1]s/uwsgi;\n    scgi_temp_path %[1]s/scgi;\n"+
		"    include %[2]s;\n}\n", dir, filepath.Join(build.root, "examples", "nginx", "gatehouse.conf"))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	global := fmt.Sprintf("daemon off; pid %s/nginx.pid;", dir)
	if os.Geteuid() == 0 {
		global += " user root;"
	}
	errorLog := filepath.Join(dir, "error.log")
	p := startProc(t, "nginx", dir, nil, nginx, "-p", dir+"/", "-c", confPath, "-e", errorLog, "-g", global)
	p.logs = append(p.logs, errorLog)
	p.waitListening(t, s.proxy)

	s.exercise(t)
}
