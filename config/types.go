package config

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written in config as "90s", "15m", "12h".
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration.
func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as \"15m\"", n.Line)
	}
	return d.UnmarshalText([]byte(n.Value))
}

// UnmarshalText parses a Go duration string ("15m", "12h").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"90s\", \"15m\", \"12h\")", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a configuration value that must never be printed: fmt (every
// verb, %#v included), slog, JSON, text and YAML encoding all show
// "[redacted]" instead (or "" for an empty Secret). Use Value to get it.
//
// Any field of this type may also be given as "<name>_file" in YAML, or
// with "_FILE" appended to its environment variable: a path whose content,
// without trailing line breaks, is the value (see Parse).
type Secret string

// Value returns the secret itself.
func (s Secret) Value() string { return string(s) }

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML hides the value.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText hides the value from encoding/json, slog's handlers and any
// other encoder that uses encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Format hides the value from every fmt verb, including %#v (which would
// otherwise print the underlying string) and %x.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprintf(f, "config.Secret(%q)", s.String())
	case verb == 'q':
		fmt.Fprintf(f, "%q", s.String())
	default:
		io.WriteString(f, s.String())
	}
}
