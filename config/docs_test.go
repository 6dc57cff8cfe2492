package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The operators' documentation is checked the way examples/gatehouse.yaml
// is: every configuration shown in it is loaded by the real loader and
// validated, and docs/configuration.md documents exactly the keys of
// Config.

// Markers, each alone on the line before a ```yaml block of the
// documentation (blank lines between are allowed). Every ```yaml block has
// one.
const (
	// markerConfig: the block is a configuration file.
	markerConfig = "<!-- gatehouse config -->"
	// markerFragment: the block is a part of a configuration file, shown
	// alone; on top of the defaults it must still load and validate.
	markerFragment = "<!-- gatehouse config fragment -->"
	// markerOther: the block is YAML that is not Gatehouse's (a
	// docker-compose file...); the text after the colon says what it is.
	markerOther = "<!-- not gatehouse config:"
)

const docsDir = "../docs"

// docFiles returns README.md and every docs/*.md, relative to this
// package.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(docsDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d pages in %s, want at least 8: %q", len(files), docsDir, files)
	}
	return append([]string{"../README.md"}, files...)
}

// mdBlock is a fenced code block of a Markdown file.
type mdBlock struct {
	line   int    // 1-based line of the opening fence
	lang   string // the info string's first word
	marker string // the non-blank line before the fence, trimmed
	text   string
}

var fenceRE = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([^\\s`]*)")

// mdBlocks returns the fenced code blocks of a Markdown text.
func mdBlocks(text string) []mdBlock {
	var blocks []mdBlock
	lines := strings.Split(text, "\n")
	prev := ""
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			if s := strings.TrimSpace(lines[i]); s != "" {
				prev = s
			}
			continue
		}
		b := mdBlock{line: i + 1, lang: m[2], marker: prev}
		indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
		var body []string
		for i++; i < len(lines); i++ {
			if strings.HasPrefix(strings.TrimSpace(lines[i]), m[1]) && strings.Trim(strings.TrimSpace(lines[i]), m[1][:1]) == "" {
				break
			}
			l := lines[i]
			if len(l)-len(strings.TrimLeft(l, " ")) >= indent {
				l = l[indent:]
			}
			body = append(body, l)
		}
		b.text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, b)
		prev = ""
	}
	return blocks
}

// docSecrets stands in for the secret files the documentation names: a
// password hash for a *hash* file, a long random-looking value otherwise.
func docSecrets(t *testing.T) func(string) (string, error) {
	ex, err := Load(examplePath, nil)
	if err != nil || len(ex.Users) == 0 {
		t.Fatalf("%s: %v (its first user's password hash stands in for the documentation's hash files)", examplePath, err)
	}
	hash := ex.Users[0].PasswordHash.Value()
	return func(name string) (string, error) {
		if strings.Contains(filepath.Base(name), "hash") {
			return hash, nil
		}
		return "docs-" + filepath.Base(name) + "-9f8e7d6c5b4a39281706f5e4d3c2b1a0", nil
	}
}

// TestDocsConfigBlocks loads and validates every configuration shown in
// README.md and docs/*.md with the real loader, and makes sure no ```yaml
// block escapes the check by going unmarked.
func TestDocsConfigBlocks(t *testing.T) {
	secrets := docSecrets(t)
	checked := 0
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(file, "../")
		for _, blk := range mdBlocks(string(b)) {
			if blk.lang != "yaml" && blk.lang != "yml" {
				continue
			}
			where := fmt.Sprintf("%s:%d", name, blk.line)
			switch {
			case blk.marker == markerConfig, blk.marker == markerFragment:
				checked++
				c, err := parse([]byte(blk.text), where, nil, secrets)
				if err != nil {
					t.Errorf("%s: the ```yaml block after %s does not load:\n%v", where, blk.marker, err)
					continue
				}
				if err := c.Validate(); err != nil {
					t.Errorf("%s: the ```yaml block after %s does not validate:\n%v", where, blk.marker, err)
				}
			case strings.HasPrefix(blk.marker, markerOther) && strings.HasSuffix(blk.marker, "-->"):
			default:
				t.Errorf("%s: ```yaml block without a marker: put %q (a configuration file), %q (part of one) "+
					"or \"%s what it is -->\" alone on the line before it (found %q)",
					where, markerConfig, markerFragment, markerOther, blk.marker)
			}
		}
	}
	if checked < 3 {
		t.Errorf("checked %d configuration blocks in the documentation, want at least 3 (README's recipe, "+
			"configuration.md's minimal file, gateway.md's routes): is the Markdown parsing broken?", checked)
	}
}

// keyPaths returns the dotted path of every key of type t ("server.listen",
// "users[].email"), and of every list of entries ("users[]"), with
// sections (keys whose value is a mapping of known keys) apart.
func keyPaths(t reflect.Type, prefix string, keys, sections map[string]bool) {
	for _, f := range yamlFields(t) {
		p := f.key
		if prefix != "" {
			p = prefix + "." + f.key
		}
		ft := f.typ
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			keys[p+"[]"] = true
			keyPaths(ft.Elem(), p+"[]", keys, sections)
		case ft.Kind() == reflect.Struct:
			sections[p] = true
			keyPaths(ft, p, keys, sections)
		default:
			keys[p] = true
		}
	}
}

// configKeys returns the key paths and section paths of Config.
func configKeys(t *testing.T) (keys, sections map[string]bool) {
	t.Helper()
	keys, sections = make(map[string]bool), make(map[string]bool)
	keyPaths(reflect.TypeFor[Config](), "", keys, sections)
	if len(keys) < 100 {
		t.Fatalf("found only %d keys in Config; the reflection walk is broken", len(keys))
	}
	return keys, sections
}

var codeSpanRE = regexp.MustCompile("`([^`]+)`")

// TestDocsReferenceComplete: docs/configuration.md has a reference row
// for every key of Config, and no row for a key that does not exist.
func TestDocsReferenceComplete(t *testing.T) {
	const page = docsDir + "/configuration.md"
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	keys, sections := configKeys(t)
	documented := make(map[string]int)
	for i, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first, _, _ := strings.Cut(line[1:], "|")
		for _, m := range codeSpanRE.FindAllStringSubmatch(first, -1) {
			k := m[1]
			if !keys[k] && !sections[k] {
				t.Errorf("docs/configuration.md:%d: documents %q, which is not a configuration key "+
					"(write the full path, such as %q)", i+1, k, "server.tls.cert_file")
				continue
			}
			if prev, ok := documented[k]; ok {
				t.Errorf("docs/configuration.md:%d: documents %q again (first on line %d)", i+1, k, prev)
			}
			documented[k] = i + 1
		}
	}
	var missing []string
	for k := range keys {
		if _, ok := documented[k]; !ok {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	for _, k := range missing {
		t.Errorf("docs/configuration.md has no reference row for the key %q: add \"| `%s` | default | what it does |\" to its section", k, k)
	}
}

// docKeyRE matches a code span that names a configuration key by its
// path: a top-level section followed by "." or "[].".
var docKeyRE = regexp.MustCompile(`^(server|log|store|session|password|login|users|oidc|gateway|demo)(\[\])?\.[a-z0-9_.\[\]]+$`)

// TestDocsKeysExist: every key path the documentation names in a code span
// (`server.tls.mode`, `users[].groups`, `gateway.rules`, `secrets_file`
// forms) is a key of Config, so renaming a
// key cannot leave a page pointing at the old name.
func TestDocsKeysExist(t *testing.T) {
	keys, sections := configKeys(t)
	for _, file := range docFiles(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(file, "../")
		inBlock := false
		for i, line := range strings.Split(string(b), "\n") {
			if fenceRE.MatchString(line) {
				inBlock = !inBlock
				continue
			}
			if inBlock {
				continue
			}
			for _, m := range codeSpanRE.FindAllStringSubmatch(line, -1) {
				k := m[1]
				if !docKeyRE.MatchString(k) {
					continue
				}
				base := strings.TrimSuffix(k, "_file")
				if keys[k] || keys[k+"[]"] || sections[k] || (base != k && keys[base]) {
					continue
				}
				t.Errorf("%s:%d: names the configuration key %q, which does not exist", name, i+1, k)
			}
		}
	}
}
