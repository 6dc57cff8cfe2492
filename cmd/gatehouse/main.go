// Command gatehouse is the Gatehouse SSO gateway: one binary that serves
// sign-in pages and sessions (and, in later releases, an OIDC provider, a
// reverse proxy and forward-auth) from one YAML file.
//
// Usage:
//
//	gatehouse [serve] [--config FILE] [--demo]
//	gatehouse validate [--config FILE]
//	gatehouse hash-password [--config FILE]
//	gatehouse policy explain --url URL [--user LOGIN] [--method M] ...
//	gatehouse healthcheck [--config FILE] [--timeout DURATION]
//	gatehouse version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var ee exitError
		if !errors.As(err, &ee) || ee.msg != "" {
			fmt.Fprintln(os.Stderr, "gatehouse:", err)
		}
		os.Exit(1)
	}
}

// exitError ends the process with status 1 after its message (if any) was
// printed by the subcommand itself.
type exitError struct{ msg string }

func (e exitError) Error() string { return e.msg }

const usage = `usage: gatehouse <command> [flags]

commands:
  serve          run the gateway (the default command)
                   --config FILE   configuration file (default: $GATEHOUSE_CONFIG,
                                   else ./gatehouse.yaml; none found: the GATEHOUSE_*
                                   variables, or the demo when they configure nothing)
                   --demo          run the embedded demo: self-signed TLS, a demo
                                   user and a built-in demo app
  validate       check the configuration and list every problem; refuses what serve
                 would refuse at startup
                   --config FILE   (none found: the defaults and GATEHOUSE_* variables)
  hash-password  print an argon2id hash for a password read from the terminal
                 (without echo) or from stdin
                   --config FILE   take the hashing parameters from this file
  policy explain show which gateway rule decides a request and why
                   --url URL --method M --user LOGIN ... (see gatehouse policy explain -h)
  healthcheck    ask the running gatehouse for /healthz on server.listen (exit 0: healthy;
                 for container health checks)
                   --config FILE   --timeout DURATION (default 5s)
  version        print the version, the VCS revision and the Go version
  help           print this list (also -h, --help)

SIGHUP makes serve reload its configuration (users, clients, routes, rules, headers...);
an invalid configuration is refused and the running one kept. A user the reload removes
or disables loses every session and token at once; a removed client's tokens are refused.
`

// run is the whole program behind main, with its environment passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	switch {
	case len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help"):
		cmd = "help"
	case len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-':
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serveCmd(ctx, args, getenv, stdout, stderr)
	case "validate":
		return validateCmd(ctx, args, getenv, stdout, stderr)
	case "hash-password":
		return hashPasswordCmd(ctx, args, getenv, stdin, stdout, stderr)
	case "policy":
		return policyCmd(args, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return nil
	case "healthcheck":
		return healthcheckCmd(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
