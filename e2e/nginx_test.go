package e2e

import (
	"fmt"
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
