package e2e

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The operators' documentation (README.md and docs/*.md) is checked here
// for what a reader does with it: follow its links and run the README's
// quickstart. Its configurations and keys are checked in the config
// package (config/docs_test.go).

// docPages returns README.md and every docs/*.md, relative to the
// module's root.
func docPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(build.root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 8 {
		t.Fatalf("found %d pages in docs/, want at least 8", len(pages))
	}
	out := []string{"README.md"}
	for _, p := range pages {
		rel, _ := filepath.Rel(build.root, p)
		out = append(out, filepath.ToSlash(rel))
	}
	return out
}

var (
	fenceLineRE = regexp.MustCompile("^\\s*(```|~~~)")
	inlineCode  = regexp.MustCompile("`[^`]*`")
	// mdLinkRE matches an inline link or image: [text](target) with an
	// optional "title".
	mdLinkRE  = regexp.MustCompile(`\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)`)
	headingRE = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	// slugDrop is what GitHub removes from a heading to make its anchor.
	slugDrop   = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
	linkTextRE = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	schemeRE   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
	passwordRE = regexp.MustCompile(`(?m)^\s*Password\s+\S+`)
)

// mdProse returns the lines of a Markdown text outside fenced code blocks
// with inline code removed, keyed by 1-based line number.
func mdProse(text string) map[int]string {
	out := make(map[int]string)
	in := false
	for i, line := range strings.Split(text, "\n") {
		if fenceLineRE.MatchString(line) {
			in = !in
			continue
		}
		if !in {
			out[i+1] = inlineCode.ReplaceAllString(line, "``")
		}
	}
	return out
}

// anchors returns the anchors GitHub gives the headings of a Markdown
// text: lower case, punctuation dropped, spaces to hyphens, "-1", "-2"...
// appended to repeats.
func anchors(text string) map[string]bool {
	out := make(map[string]bool)
	seen := make(map[string]int)
	prose := mdProse(text)
	for i, raw := range strings.Split(text, "\n") {
		if _, ok := prose[i+1]; !ok {
			continue // inside a code block
		}
		m := headingRE.FindStringSubmatch(raw)
		if m == nil {
			continue
		}
		// The heading's text as rendered: code spans keep their content,
		// links their text.
		h := linkTextRE.ReplaceAllString(m[2], "$1")
		h = strings.NewReplacer("`", "", "*", "").Replace(h)
		slug := strings.ReplaceAll(slugDrop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// TestDocs_LinksResolve: every relative link in README.md and docs/*.md
// points to a file of this repository, and every #anchor to a heading of
// its page.
func TestDocs_LinksResolve(t *testing.T) {
	checked := 0
	for _, page := range docPages(t) {
		b, err := os.ReadFile(filepath.Join(build.root, page))
		if err != nil {
			t.Fatal(err)
		}
		lines := mdProse(string(b))
		for n := 1; n <= strings.Count(string(b), "\n")+1; n++ {
			line, ok := lines[n]
			if !ok {
				continue
			}
			for _, m := range mdLinkRE.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if schemeRE.MatchString(target) {
					continue // https:, mailto: ...
				}
				checked++
				where := fmt.Sprintf("%s:%d: link %q", page, n, target)
				path, frag, _ := strings.Cut(target, "#")
				file := page
				if path != "" {
					if strings.HasPrefix(path, "/") {
						t.Errorf("%s: use a path relative to the page, not from the root", where)
						continue
					}
					file = filepath.ToSlash(filepath.Join(filepath.Dir(page), path))
					if file == ".." || strings.HasPrefix(file, "../") {
						t.Errorf("%s: points outside the repository", where)
						continue
					}
					st, err := os.Stat(filepath.Join(build.root, file))
					if err != nil {
						t.Errorf("%s: %s does not exist", where, file)
						continue
					}
					if st.IsDir() {
						if frag != "" {
							t.Errorf("%s: an anchor into a directory", where)
						}
						continue
					}
				}
				if frag == "" {
					continue
				}
				if !strings.HasSuffix(file, ".md") {
					t.Errorf("%s: an anchor into %s, which is not a Markdown page", where, file)
					continue
				}
				tb, err := os.ReadFile(filepath.Join(build.root, file))
				if err != nil {
					t.Fatal(err)
				}
				if !anchors(string(tb))[frag] {
					t.Errorf("%s: %s has no heading with the anchor #%s", where, file, frag)
				}
			}
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d relative links: is the link parsing broken?", checked)
	}
}

// quickstart returns the commands of the README's quickstart: the lines
// of the first ```sh block under "## Quickstart" that are not comments.
func quickstart(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(build.root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), "\n## Quickstart\n")
	if !ok {
		t.Fatal(`README.md has no "## Quickstart" section`)
	}
	if next := strings.Index(after, "\n## "); next >= 0 {
		after = after[:next]
	}
	_, block, ok := strings.Cut(after, "\n```sh\n")
	if !ok {
		t.Fatal("README.md's quickstart has no ```sh block")
	}
	block, _, _ = strings.Cut(block, "\n```")
	var cmds []string
	for line := range strings.SplitSeq(block, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			cmds = append(cmds, line)
		}
	}
	return cmds
}

// ciTestCommand is the test command of the README's quickstart.
const ciTestCommand = "go test -race -count=1 ./..."

// TestDocs_QuickstartIsWhatCIRuns: the README's quickstart is two
// commands, the gateway's demo and the test command, and .ci/run runs that
// very test command as its last step.
func TestDocs_QuickstartIsWhatCIRuns(t *testing.T) {
	cmds := quickstart(t)
	if len(cmds) != 2 || !strings.HasPrefix(cmds[0], "go run ./cmd/gatehouse ") || !strings.HasPrefix(cmds[1], "go test ") {
		t.Fatalf("README.md's quickstart runs %q; want two commands: \"go run ./cmd/gatehouse ...\" then \"go test ...\"", cmds)
	}
	if cmds[1] != ciTestCommand {
		t.Errorf("README.md's test command is %q; CI's is %q", cmds[1], ciTestCommand)
	}
	b, err := os.ReadFile(filepath.Join(build.root, ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	var last string
	for line := range strings.SplitSeq(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			last = line
		}
	}
	if last != cmds[1] {
		t.Errorf(".ci/run's last command is %q; it must be the README's test command %q, byte for byte", last, cmds[1])
	}
}

// TestDocs_QuickstartServes runs the quickstart's first command (with the
// binary built from this module in place of "go run ./cmd/gatehouse") in
// an empty directory, as on a fresh machine, and checks that it serves
// the sign-in page over TLS and prints the demo's password.
func TestDocs_QuickstartServes(t *testing.T) {
	args := strings.Fields(strings.TrimPrefix(quickstart(t)[0], "go run ./cmd/gatehouse "))
	dir := t.TempDir()
	addr := freeAddr(t)
	p := startProc(t, "quickstart", dir, []string{"GATEHOUSE_SERVER_LISTEN=" + addr, "HOME=" + dir}, build.gatehouse, args...)
	p.waitListening(t, addr)

	client := &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			// The quickstart's certificate is self-signed for localhost.
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/login", nil)
	req.Host = "localhost:8443"
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /login from %q: %v", args, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /login from %q: %s, want 200", args, resp.Status)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		out, _ := os.ReadFile(filepath.Join(dir, "quickstart.out"))
		if passwordRE.Match(out) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q printed no demo password:\n%s", args, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "gatehouse-data", "gatehouse.db")); err != nil {
		t.Errorf("%q did not create its data file where the README says: %v", args, err)
	}
}
