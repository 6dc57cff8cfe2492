package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/identity"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// defaultConfigFile is looked for in the working directory when neither
// --config nor GATEHOUSE_CONFIG names a file.
const defaultConfigFile = "gatehouse.yaml"

// findConfig returns the config file to load: the flag, then
// GATEHOUSE_CONFIG, then ./gatehouse.yaml when it exists. found is false
// when none applies.
func findConfig(flagValue string, getenv func(string) string) (path string, found bool) {
	if flagValue != "" {
		return flagValue, true
	}
	if p := getenv("GATEHOUSE_CONFIG"); p != "" {
		return p, true
	}
	if _, err := os.Stat(defaultConfigFile); err == nil {
		return defaultConfigFile, true
	}
	return "", false
}

// loadConfig loads and validates; every problem is printed on its own line
// to stderr. config.Validate is the one gate every command passes a
// configuration through.
func loadConfig(path string, getenv func(string) string, stderr io.Writer) (config.Config, error) {
	cfg, err := config.Load(path, getenv)
	// With problems, Load still returns what it could read: validate that
	// too, so that one run reports every problem.
	if err == nil || !reflect.ValueOf(cfg).IsZero() {
		err = errors.Join(err, cfg.Validate())
	}
	if err != nil {
		printProblems(stderr, "invalid configuration", path, err)
		return config.Config{}, exitError{}
	}
	return cfg, nil
}

// printProblems prints err's lines under a heading naming the
// configuration's source.
func printProblems(w io.Writer, what, path string, err error) {
	name := path
	if name == "" {
		name = "defaults and environment"
	}
	fmt.Fprintf(w, "gatehouse: %s (%s):\n", what, name)
	for _, line := range strings.Split(err.Error(), "\n") {
		if line != "" {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// trialBuild builds every component serve builds from cfg, on an
// in-memory store and without listening, and closes them again: what
// serve would refuse at startup beyond config.Validate (a TLS certificate,
// signing key or CA file that does not load), validate refuses too. It
// reads the files the configuration names, generates throwaway signing
// keys and writes nothing.
func trialBuild(ctx context.Context, cfg config.Config) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	st := memory.New()
	defer st.Close()
	if cfg.Server.TLS.Mode == config.TLSACME {
		if _, err := newACME(ctx, cfg, st, log); err != nil {
			return fmt.Errorf("server.tls.acme: %w", err)
		}
	} else if _, err := tlsConfig(cfg.Server.TLS, time.Now()); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, st, log, nil)
	if err != nil {
		return err
	}
	return a.close(ctx)
}

func validateCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{}
	}
	// Without a file, the defaults and the environment are checked: the
	// configuration of a deployment set up with GATEHOUSE_* variables only.
	path, _ := findConfig(*cfgFlag, getenv)
	cfg, err := loadConfig(path, getenv, stderr)
	if err != nil {
		return err
	}
	if err := trialBuild(ctx, cfg); err != nil {
		printProblems(stderr, "configuration refused at startup", path, err)
		return exitError{}
	}
	name := path
	if name == "" {
		name = "defaults and environment"
	}
	fmt.Fprintf(stdout, "%s: configuration is valid\n", name)
	return nil
}

func hashPasswordCmd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hash-password", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgFlag := fs.String("config", "", "take argon2id parameters from this configuration file")
	if err := fs.Parse(args); err != nil {
		return exitError{}
	}
	cfg := config.Default()
	if *cfgFlag != "" {
		var err error
		if cfg, err = loadConfig(*cfgFlag, getenv, stderr); err != nil {
			return err
		}
	}
	password, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if len(password) < 12 {
		fmt.Fprintln(stderr, "warning: passwords shorter than 12 characters are easy to guess")
	}
	h := identity.NewHasher(hasherParams(cfg.Password), 1)
	hash, err := h.Hash(ctx, password)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	fmt.Fprintln(stdout, hash)
	return nil
}

// readPassword reads without echo from a terminal (asking twice), or the
// first line of stdin otherwise.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Repeat password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		if len(a) == 0 {
			return "", errors.New("empty password")
		}
		return string(a), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty password on stdin")
	}
	return line, nil
}

func hasherParams(p config.Password) identity.Params {
	return identity.Params{MemoryKiB: p.MemoryKiB, Iterations: p.Iterations, Parallelism: p.Parallelism}
}
