package config

import (
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

// envPrefix starts the name of every environment variable that overrides
// the configuration.
const envPrefix = "GATEHOUSE"

// maxEnvAppend caps how many list elements the environment may append, so
// a getenv that answers every name cannot loop forever.
const maxEnvAppend = 1000

// applyEnv applies the environment overrides described in Parse to cfg.
// Variable names are generated from the Config type (and the current
// lengths of its lists of structs) and looked up one by one with getenv;
// the environment is never scanned.
func applyEnv(cfg *Config, getenv func(string) string, readSecret func(string) (string, error)) Errors {
	e := envApplier{getenv: getenv, readSecret: readSecret}
	e.apply(reflect.ValueOf(cfg).Elem(), "", envPrefix)
	return e.errs
}

type envApplier struct {
	getenv     func(string) string
	readSecret func(name string) (string, error)
	errs       Errors
}

func (e *envApplier) fail(env, path string, err error) {
	e.errs = append(e.errs, &FieldError{Path: path, Env: env, Err: err})
}

// apply sets v (at YAML path path) and everything inside it from the
// variables named name and name_<KEY>...; it reports whether any variable
// was set.
func (e *envApplier) apply(v reflect.Value, path, name string) (found bool) {
	t := v.Type()
	switch {
	case isScalar(t):
		return e.scalar(v, path, name)
	case t.Kind() == reflect.Struct:
		for _, f := range yamlFields(t) {
			if e.apply(v.Field(f.index), joinPath(path, f.key), name+"_"+strings.ToUpper(f.key)) {
				found = true
			}
		}
	case t.Kind() == reflect.Slice && isScalar(t.Elem()):
		return e.list(v, path, name)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		n := v.Len()
		for i := range n {
			if e.apply(v.Index(i), indexPath(path, i), name+"_"+strconv.Itoa(i)) {
				found = true
			}
		}
		for i := n; i < n+maxEnvAppend; i++ {
			elem := newElement(t.Elem())
			if !e.apply(elem, indexPath(path, i), name+"_"+strconv.Itoa(i)) {
				break
			}
			v.Set(reflect.Append(v, elem))
			found = true
		}
	}
	// Maps (users[].attributes) are not overridable.
	return found
}

// scalar sets v from the variable name (or, for a Secret, name_FILE).
func (e *envApplier) scalar(v reflect.Value, path, name string) bool {
	val := e.getenv(name)
	if v.Type() == secretType {
		if file := e.getenv(name + "_FILE"); file != "" {
			if val != "" {
				e.fail(name, path, fmt.Errorf("both %s and %s_FILE are set; use one", name, name))
				return true
			}
			s, err := e.readSecret(file)
			if err != nil {
				e.fail(name+"_FILE", path, err)
				return true
			}
			v.SetString(s)
			return true
		}
	}
	if val == "" {
		return false
	}
	if err := setScalar(v, val); err != nil {
		e.fail(name, path, err)
	}
	return true
}

// list replaces the list of scalars v from the comma-separated variable
// name (or, for a list of Secrets, the files listed in name_FILE).
func (e *envApplier) list(v reflect.Value, path, name string) bool {
	val := e.getenv(name)
	t := v.Type()
	if t.Elem() == secretType {
		if files := e.getenv(name + "_FILE"); files != "" {
			if val != "" {
				e.fail(name, path, fmt.Errorf("both %s and %s_FILE are set; use one", name, name))
				return true
			}
			out := reflect.MakeSlice(t, 0, 2)
			ok := true
			for i, file := range splitList(files) {
				s, err := e.readSecret(file)
				if err != nil {
					e.fail(name+"_FILE", indexPath(path, i), err)
					ok = false
					continue
				}
				out = reflect.Append(out, reflect.ValueOf(Secret(s)))
			}
			if ok {
				v.Set(out)
			}
			return true
		}
	}
	if val == "" {
		return false
	}
	items := splitList(val)
	out := reflect.MakeSlice(t, 0, len(items))
	ok := true
	for i, item := range items {
		ev := reflect.New(t.Elem()).Elem()
		if err := setScalar(ev, item); err != nil {
			e.fail(name, indexPath(path, i), err)
			ok = false
			continue
		}
		out = reflect.Append(out, ev)
	}
	if ok {
		v.Set(out)
	}
	return true
}

// splitList splits a comma-separated value, trimming spaces and dropping
// empty items.
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// setScalar parses s into the addressable scalar v.
func setScalar(v reflect.Value, s string) error {
	if u, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	t := v.Type()
	switch t.Kind() {
	case reflect.String:
		v.SetString(s)
		return nil
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return wantError(t, s)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, t.Bits())
		if err != nil {
			return wantError(t, s)
		}
		v.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(s, 10, t.Bits())
		if err != nil {
			return wantError(t, s)
		}
		v.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil {
			return wantError(t, s)
		}
		v.SetFloat(f)
		return nil
	}
	return fmt.Errorf("cannot set a %s from the environment", t)
}

// wantError says what a scalar of type t should look like. Never call it
// for a Secret: it shows the value.
func wantError(t reflect.Type, got string) error {
	switch t.Kind() {
	case reflect.Bool:
		return fmt.Errorf("want true or false, got %q", got)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if t.Bits() == 64 {
			return fmt.Errorf("want an integer, got %q", got)
		}
		lo, hi := intRange(t.Bits())
		return fmt.Errorf("want an integer from %d to %d, got %q", lo, hi, got)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if t.Bits() == 64 {
			return fmt.Errorf("want a non-negative integer, got %q", got)
		}
		return fmt.Errorf("want an integer from 0 to %d, got %q", uint64(math.MaxUint64)>>(64-t.Bits()), got)
	case reflect.Float32, reflect.Float64:
		return fmt.Errorf("want a number, got %q", got)
	}
	return errors.New("invalid value")
}

func intRange(bits int) (int64, int64) {
	hi := int64(math.MaxInt64 >> (64 - bits))
	return -hi - 1, hi
}

// EnvSettings returns, sorted, the names of the GATEHOUSE_* variables that
// Load would apply to the configuration and that getenv gives a value
// (an empty value counts as unset, as in Load). It returns names only,
// never values, and reads no secret file. GATEHOUSE_CONFIG, which names
// the file rather than setting a key, is never among them.
func EnvSettings(getenv func(string) string) []string {
	seen := map[string]bool{}
	record := func(name string) string {
		v := getenv(name)
		if v != "" {
			seen[name] = true
		}
		return v
	}
	// The secret files are not read: a placeholder stands for their
	// content, enough for the lookups that follow to happen.
	placeholder := func(string) (string, error) { return "x", nil }
	cfg := Default()
	applyEnv(&cfg, record, placeholder)
	applyTrustedClients(&cfg, record, placeholder)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}
