package config

import (
	"fmt"
	"strings"
)

// FieldError is one problem with one configuration field. Its Error method
// names where the value came from (file and line, or environment variable)
// and the field's path:
//
//	gatehouse.yaml:3: server.lisen: unknown key (did you mean "listen"?)
//	GATEHOUSE_DEMO_ENABLED: demo.enabled: want true or false, got "maybe"
//	GATEHOUSE_OIDC_TRUSTED_CLIENTS[1] "leeram-business": redirectUrls: want an array of strings, got a string
//	server.public_url: must be an absolute https URL
type FieldError struct {
	// Path is the field's path in the YAML document, keys joined with "."
	// and list elements indexed: "server.tls.mode", "users[1].email",
	// "session.secrets[0]". It is empty for problems with the document as
	// a whole (a syntax error, for example).
	Path string
	// File is the configuration file, when the value came from one and the
	// file has a name (Load sets it, Parse does not).
	File string
	// Line is the 1-based line in the YAML document, or 0 when unknown or
	// not from the document.
	Line int
	// Env is the environment variable the value came from, if any. For an
	// entry of the JSON array in GATEHOUSE_OIDC_TRUSTED_CLIENTS it also
	// names the entry, by index and clientId when known:
	// `GATEHOUSE_OIDC_TRUSTED_CLIENTS[1] "leeram-business"`; Path is then
	// the entry's JSON field ("redirectUrls", "redirectUrls[0]").
	Env string
	// Err is the problem itself.
	Err error
}

// Error formats the problem on one line.
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		b.WriteString(e.Env)
		b.WriteString(": ")
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	} else {
		b.WriteString("invalid")
	}
	return b.String()
}

// Unwrap returns the underlying problem.
func (e *FieldError) Unwrap() error { return e.Err }

// Errors is a list of configuration problems, as returned by Validate,
// Parse and Load. Its Error method prints one problem per line, so a
// caller can show them all at once:
//
//	if err := cfg.Validate(); err != nil {
//		fmt.Fprintf(os.Stderr, "invalid configuration:\n%v\n", err)
//	}
//
// The elements are usually *FieldError; errors.As and errors.Is see
// through the list.
type Errors []error

// Error returns the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, for errors.Is and errors.As.
func (e Errors) Unwrap() []error { return e }

// err returns e as an error, or nil when e is empty (never a non-nil error
// holding an empty list).
func (e Errors) err() error {
	if len(e) == 0 {
		return nil
	}
	return e
}

// joinPath appends a key to a YAML path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// indexPath appends a list index to a YAML path.
func indexPath(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}
