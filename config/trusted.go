package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// trustedClientsEnv is the environment variable holding extra OIDC clients
// as a JSON array in the shape kuploy uses (see Parse).
const trustedClientsEnv = envPrefix + "_OIDC_TRUSTED_CLIENTS"

// jsonField is one field of an entry of GATEHOUSE_OIDC_TRUSTED_CLIENTS.
type jsonField struct {
	name string // JSON name, matched exactly (case-sensitively)
	set  func(c *Client, v json.RawMessage) error
}

// trustedClientFields returns the fields an entry of
// GATEHOUSE_OIDC_TRUSTED_CLIENTS may have, each mapped to its Client field.
func trustedClientFields() []jsonField {
	return []jsonField{
		{"clientId", jsonString(func(c *Client) *string { return &c.ClientID })},
		{"clientSecret", jsonSecret},
		{"name", jsonString(func(c *Client) *string { return &c.Name })},
		{"redirectUrls", jsonStrings(func(c *Client) *[]string { return &c.RedirectURLs })},
		{"postLogoutRedirectUrls", jsonStrings(func(c *Client) *[]string { return &c.PostLogoutRedirectURLs })},
		{"skipConsent", jsonBool(func(c *Client) *bool { return &c.SkipConsent })},
		{"requirePKCE", jsonBool(func(c *Client) *bool { return &c.RequirePKCE })},
		{"public", jsonBool(func(c *Client) *bool { return &c.Public })},
		{"scopes", jsonStrings(func(c *Client) *[]string { return &c.Scopes })},
		{"grantTypes", jsonStrings(func(c *Client) *[]string { return &c.GrantTypes })},
		{"backchannelLogoutUri", jsonString(func(c *Client) *string { return &c.BackchannelLogoutURI })},
		{"signingAlg", jsonString(func(c *Client) *string { return &c.SigningAlg })},
		{"accessTokenTTL", jsonDuration(func(c *Client) *Duration { return &c.AccessTokenTTL })},
		{"idTokenTTL", jsonDuration(func(c *Client) *Duration { return &c.IDTokenTTL })},
		{"refreshTokenTTL", jsonDuration(func(c *Client) *Duration { return &c.RefreshTokenTTL })},
	}
}

// applyTrustedClients appends the clients of GATEHOUSE_OIDC_TRUSTED_CLIENTS
// (or the file named by GATEHOUSE_OIDC_TRUSTED_CLIENTS_FILE) to
// cfg.OIDC.Clients. On any problem it appends none and returns them all.
func applyTrustedClients(cfg *Config, getenv func(string) string, readSecret func(string) (string, error)) Errors {
	name := trustedClientsEnv
	val, file := getenv(name), getenv(name+"_FILE")
	switch {
	case val != "" && file != "":
		return Errors{&FieldError{Env: name, Err: fmt.Errorf("both %s and %s_FILE are set; use one", name, name)}}
	case file != "":
		name += "_FILE"
		s, err := readSecret(file)
		if err != nil {
			return Errors{&FieldError{Env: name, Err: err}}
		}
		val = s
	case val == "":
		return nil
	}
	clients, errs := parseTrustedClients([]byte(val), name)
	if len(errs) > 0 {
		return errs
	}
	cfg.OIDC.Clients = append(cfg.OIDC.Clients, clients...)
	return nil
}

// parseTrustedClients decodes data, the JSON array of clients of the
// variable env, strictly: unknown or duplicate fields and values of the
// wrong type are errors, each naming env, the entry's index and its
// clientId when known, and the field. Errors never show a value. A JSON
// null counts as an absent field.
func parseTrustedClients(data []byte, env string) ([]Client, Errors) {
	whole := func(format string, args ...any) Errors {
		return Errors{&FieldError{Env: env, Err: fmt.Errorf(format, args...)}}
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, whole("holds only white space; want a JSON array of clients (or leave it unset)")
	}
	if err := checkJSON(data); err != nil {
		return nil, Errors{&FieldError{Env: env, Err: err}}
	}
	if trimmed[0] != '[' {
		return nil, whole("want a JSON array of clients, got %s", jsonKind(trimmed))
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(trimmed, &entries); err != nil {
		// checkJSON accepted it, so this cannot happen; say nothing of the
		// content anyway.
		return nil, whole("not valid JSON")
	}
	clients := make([]Client, 0, len(entries))
	var errs Errors
	for i, raw := range entries {
		c, entryErrs := parseTrustedClient(raw, fmt.Sprintf("%s[%d]", env, i))
		errs = append(errs, entryErrs...)
		clients = append(clients, c)
	}
	return clients, errs
}

// parseTrustedClient decodes one entry; origin is "VAR[i]".
func parseTrustedClient(raw json.RawMessage, origin string) (Client, Errors) {
	c := Client{origin: origin}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return c, Errors{&FieldError{Env: origin, Err: fmt.Errorf("want a JSON object, got %s", jsonKind(raw))}}
	}
	keys, values, err := jsonObject(raw)
	if err != nil {
		return c, Errors{&FieldError{Env: origin, Err: errors.New("not a valid JSON object")}}
	}
	// Label the entry with its clientId when that is a string.
	label := origin
	for i, k := range keys {
		var id string
		if k == "clientId" && len(values[i]) > 0 && values[i][0] == '"' && json.Unmarshal(values[i], &id) == nil && id != "" {
			label = fmt.Sprintf("%s %q", origin, id)
			break
		}
	}
	var errs Errors
	fail := func(path string, err error) {
		errs = append(errs, &FieldError{Env: label, Path: path, Err: err})
	}
	seen := make(map[string]bool, len(keys))
	for i, k := range keys {
		f, ok := lookupJSONField(k)
		switch {
		case !ok:
			fail(k, fmt.Errorf("unknown field%s", suggestJSONField(k)))
			continue
		case seen[k]:
			fail(k, errors.New("given more than once"))
			continue
		}
		seen[k] = true
		v := values[i]
		if string(v) == "null" {
			continue
		}
		if err := f.set(&c, v); err != nil {
			var ie *indexError
			if errors.As(err, &ie) {
				fail(indexPath(k, ie.index), ie.err)
				continue
			}
			fail(k, err)
		}
	}
	return c, errs
}

// checkJSON reports whether data is one valid JSON value, with the position
// of a syntax error but never the offending text.
func checkJSON(data []byte) error {
	if json.Valid(data) {
		return nil
	}
	var v any
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset)
		if se.Offset >= int64(len(data)) {
			return fmt.Errorf("not valid JSON: unexpected end at line %d, column %d", line, col)
		}
		return fmt.Errorf("not valid JSON: syntax error at line %d, column %d", line, col)
	}
	return errors.New("not valid JSON")
}

// position converts a byte offset of data (as json.SyntaxError reports it:
// the offset after the bad byte) into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:max(offset-1, 0)]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

// jsonObject splits a valid JSON object into its keys and raw values, in
// document order, keeping duplicate keys.
func jsonObject(raw json.RawMessage) (keys []string, values []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, nil, errors.New("object key is not a string")
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys = append(keys, k)
		values = append(values, v)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, nil, errors.New("data after the object")
	}
	return keys, values, nil
}

// jsonKind names the JSON type of the value v starts with, for "want X,
// got Y" messages. It never shows the value.
func jsonKind(v []byte) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func lookupJSONField(name string) (jsonField, bool) {
	for _, f := range trustedClientFields() {
		if f.name == name {
			return f, true
		}
	}
	return jsonField{}, false
}

// suggestJSONField returns ` (did you mean "x"?)` for the field closest to
// name: equal but for case, "_" and "-" (client_id, redirectURLs), or
// within a small edit distance.
func suggestJSONField(name string) string {
	norm := func(s string) string {
		return strings.ToLower(strings.NewReplacer("_", "", "-", "").Replace(s))
	}
	all := trustedClientFields()
	for _, f := range all {
		if norm(f.name) == norm(name) {
			return fmt.Sprintf(" (did you mean %q?)", f.name)
		}
	}
	fields := make([]field, len(all))
	for i, f := range all {
		fields[i] = field{key: f.name}
	}
	return suggest(fields, name)
}

// indexError is a problem with one element of an array field.
type indexError struct {
	index int
	err   error
}

func (e *indexError) Error() string { return fmt.Sprintf("[%d]: %v", e.index, e.err) }

// wantKind checks that the JSON value v starts like kind ('"', '[', 't').
func wantKind(v json.RawMessage, want string, ok bool) error {
	if !ok {
		return fmt.Errorf("want %s, got %s", want, jsonKind(v))
	}
	return nil
}

func isJSONString(v json.RawMessage) bool { return len(v) > 0 && v[0] == '"' }

func jsonString(field func(*Client) *string) func(*Client, json.RawMessage) error {
	return func(c *Client, v json.RawMessage) error {
		if err := wantKind(v, "a string", isJSONString(v)); err != nil {
			return err
		}
		return json.Unmarshal(v, field(c))
	}
}

func jsonSecret(c *Client, v json.RawMessage) error {
	if err := wantKind(v, "a string", isJSONString(v)); err != nil {
		return err
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return errors.New("not a valid JSON string")
	}
	c.ClientSecret = Secret(s)
	return nil
}

func jsonBool(field func(*Client) *bool) func(*Client, json.RawMessage) error {
	return func(c *Client, v json.RawMessage) error {
		s := string(v)
		if err := wantKind(v, "true or false", s == "true" || s == "false"); err != nil {
			return err
		}
		*field(c) = s == "true"
		return nil
	}
}

func jsonStrings(field func(*Client) *[]string) func(*Client, json.RawMessage) error {
	return func(c *Client, v json.RawMessage) error {
		if err := wantKind(v, "an array of strings", len(v) > 0 && v[0] == '['); err != nil {
			return err
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return errors.New("not a valid JSON array")
		}
		out := make([]string, len(items))
		for i, item := range items {
			item = bytes.TrimSpace(item)
			if !isJSONString(item) {
				return &indexError{i, fmt.Errorf("want a string, got %s", jsonKind(item))}
			}
			if err := json.Unmarshal(item, &out[i]); err != nil {
				return &indexError{i, errors.New("not a valid JSON string")}
			}
		}
		*field(c) = out
		return nil
	}
}

func jsonDuration(field func(*Client) *Duration) func(*Client, json.RawMessage) error {
	return func(c *Client, v json.RawMessage) error {
		if err := wantKind(v, `a duration string such as "30m"`, isJSONString(v)); err != nil {
			return err
		}
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return errors.New("not a valid JSON string")
		}
		return field(c).UnmarshalText([]byte(s))
	}
}
