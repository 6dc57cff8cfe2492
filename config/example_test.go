package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

const examplePath = "../examples/gatehouse.yaml"

func TestExampleValid(t *testing.T) {
	c, err := Load(examplePath, nil)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("%s does not validate:\n%v", examplePath, err)
	}
	if len(c.Users) < 2 {
		t.Errorf("example has %d users, want at least 2", len(c.Users))
	}
	for i, u := range c.Users {
		if !strings.HasPrefix(u.PasswordHash.Value(), "$argon2id$v=19$m=47104,t=1,p=1$") {
			t.Errorf("users[%d].password_hash is not a PHC argon2id hash with the default parameters", i)
		}
	}
}

// yamlKeys returns every YAML key of type t, recursively.
func yamlKeys(t reflect.Type, into map[string]bool) {
	switch t.Kind() {
	case reflect.Struct:
		for _, f := range yamlFields(t) {
			into[f.key] = true
			yamlKeys(f.typ, into)
		}
	case reflect.Slice, reflect.Pointer:
		yamlKeys(t.Elem(), into)
	}
}

// TestExampleComplete keeps the example complete: every key of the Config
// type appears in it (commented out or not), so does the _file form of the
// secrets, and it has a comment for every key.
func TestExampleComplete(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	keys := make(map[string]bool)
	yamlKeys(reflect.TypeFor[Config](), keys)
	if len(keys) < 40 {
		t.Fatalf("found only %d keys in Config; the reflection walk is broken", len(keys))
	}
	keys["secrets_file"] = true
	keys["password_hash_file"] = true
	for k := range keys {
		re := regexp.MustCompile(`(?m)^[\s#-]*` + regexp.QuoteMeta(k) + `:`)
		if !re.MatchString(text) {
			t.Errorf("%s does not mention the key %q", examplePath, k)
		}
	}
	for _, want := range []string{"openssl rand -base64 32", "demo-password-alice", "demo-password-bob"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s does not mention %q", examplePath, want)
		}
	}
}
