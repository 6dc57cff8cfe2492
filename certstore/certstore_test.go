package certstore_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/gatehouse-sso/gatehouse/certstore"
	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/bolt"
	"github.com/gatehouse-sso/gatehouse/store/memory"
)

// backends opens a fresh, empty store of each kind for a test.
var backends = []struct {
	name string
	open func(t *testing.T) store.Store
}{
	{"memory", func(t *testing.T) store.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
	{"bolt", func(t *testing.T) store.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
		if err != nil {
			t.Fatalf("bolt.Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}},
}

// eachBackend runs f once per backend.
func eachBackend(t *testing.T, f func(t *testing.T, open func(t *testing.T) store.Store)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b.open) })
	}
}

// clock is a manual clock, safe for concurrent use.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is the tree every semantics test starts from: certmagic's real
// layout plus traps ("example.com" vs "example.com.au", a top-level file).
var fixture = []string{
	"acme/ca.example/users/a@example.org/a.json",
	"acme/ca.example/users/a@example.org/a.key",
	"acme/ca.example/users/b@example.org/b.json",
	"certificates/ca.example/example.com/example.com.crt",
	"certificates/ca.example/example.com/example.com.key",
	"certificates/ca.example/example.com.au/example.com.au.crt",
	"ocsp/example.com-1234",
	"top",
}

func seed(t *testing.T, s certmagic.Storage, clk *clock) {
	t.Helper()
	for _, k := range fixture {
		if clk != nil {
			clk.Advance(time.Second)
		}
		if err := s.Store(t.Context(), k, []byte("value of "+k)); err != nil {
			t.Fatalf("Store(%q): %v", k, err)
		}
	}
}

func TestList(t *testing.T) {
	cases := []struct {
		name      string
		prefix    string
		recursive bool
		want      []string
		notExist  bool
	}{
		{"root", "", false, []string{"acme", "certificates", "ocsp", "top"}, false},
		{"accounts are directories", "acme/ca.example/users", false,
			[]string{"acme/ca.example/users/a@example.org", "acme/ca.example/users/b@example.org"}, false},
		{"slashes trimmed", "/acme/ca.example/users/", false,
			[]string{"acme/ca.example/users/a@example.org", "acme/ca.example/users/b@example.org"}, false},
		{"sites by component", "certificates/ca.example", false,
			[]string{"certificates/ca.example/example.com", "certificates/ca.example/example.com.au"}, false},
		{"files of one site only", "certificates/ca.example/example.com", false,
			[]string{"certificates/ca.example/example.com/example.com.crt", "certificates/ca.example/example.com/example.com.key"}, false},
		{"recursive walks directories too", "acme", true, []string{
			"acme/ca.example",
			"acme/ca.example/users",
			"acme/ca.example/users/a@example.org",
			"acme/ca.example/users/a@example.org/a.json",
			"acme/ca.example/users/a@example.org/a.key",
			"acme/ca.example/users/b@example.org",
			"acme/ca.example/users/b@example.org/b.json",
		}, false},
		{"recursive in walk order", "certificates/ca.example", true, []string{
			"certificates/ca.example/example.com",
			"certificates/ca.example/example.com/example.com.crt",
			"certificates/ca.example/example.com/example.com.key",
			"certificates/ca.example/example.com.au",
			"certificates/ca.example/example.com.au/example.com.au.crt",
		}, false},
		{"file has no children", "top", false, nil, false},
		{"missing", "nope", false, nil, true},
		{"partial component is not a prefix", "acme/ca", false, nil, true},
		{"partial component, recursive", "certificates/ca.example/example", true, nil, true},
	}
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		s := certstore.New(open(t), certstore.Options{})
		seed(t, s, nil)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				got, err := s.List(t.Context(), c.prefix, c.recursive)
				if c.notExist {
					if !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("List(%q) = %v, %v; want fs.ErrNotExist", c.prefix, got, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("List(%q): %v", c.prefix, err)
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("List(%q, %v) =\n%q\nwant\n%q", c.prefix, c.recursive, got, c.want)
				}
			})
		}
	})
}

// TestMatchesFileStorage runs the same queries against certmagic's own
// FileStorage and compares: our semantics are certmagic's reference ones.
func TestMatchesFileStorage(t *testing.T) {
	queries := []string{"", "acme", "acme/ca.example/users", "acme/ca.example/users/a@example.org",
		"certificates/ca.example", "certificates/ca.example/example.com", "top", "nope", "acme/ca",
		"certificates/ca.example/example.com/example.com.crt"}
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ours := certstore.New(open(t), certstore.Options{})
		ref := &certmagic.FileStorage{Path: t.TempDir()}
		seed(t, ours, nil)
		seed(t, ref, nil)
		ctx := t.Context()
		for _, q := range queries {
			for _, rec := range []bool{false, true} {
				want, werr := ref.List(ctx, q, rec)
				got, gerr := ours.List(ctx, q, rec)
				if errors.Is(werr, fs.ErrNotExist) != errors.Is(gerr, fs.ErrNotExist) || (werr == nil) != (gerr == nil) {
					t.Errorf("List(%q, %v) error = %v, FileStorage's = %v", q, rec, gerr, werr)
				}
				if !slices.Equal(got, want) {
					t.Errorf("List(%q, %v) =\n%q\nFileStorage:\n%q", q, rec, got, want)
				}
			}
			if g, w := ours.Exists(ctx, q), ref.Exists(ctx, q); g != w {
				t.Errorf("Exists(%q) = %v, FileStorage's = %v", q, g, w)
			}
			gi, gerr := ours.Stat(ctx, q)
			wi, werr := ref.Stat(ctx, q)
			if errors.Is(werr, fs.ErrNotExist) != errors.Is(gerr, fs.ErrNotExist) {
				t.Errorf("Stat(%q) error = %v, FileStorage's = %v", q, gerr, werr)
			}
			if gerr == nil && werr == nil && q != "" && (gi.IsTerminal != wi.IsTerminal || gi.Key != wi.Key) {
				t.Errorf("Stat(%q) = %+v, FileStorage's = %+v", q, gi, wi)
			}
			if gerr == nil && gi.IsTerminal && gi.Size != wi.Size {
				t.Errorf("Stat(%q).Size = %d, FileStorage's = %d", q, gi.Size, wi.Size)
			}
		}
	})
}

func TestStoreLoadExistsStat(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
		s := certstore.New(open(t), certstore.Options{Now: clk.Now})
		ctx := t.Context()
		seed(t, s, clk)

		// Overwrite one account file later than everything else.
		clk.Advance(time.Hour)
		newest := clk.Now()
		if err := s.Store(ctx, "acme/ca.example/users/b@example.org/b.json", []byte("{}")); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name     string
			key      string
			exists   bool
			terminal bool
			size     int64
			modified time.Time
			value    []byte // for files
		}{
			{"file", "top", true, true, int64(len("value of top")), time.Date(2025, 1, 1, 0, 0, 8, 0, time.UTC), []byte("value of top")},
			{"overwritten file", "acme/ca.example/users/b@example.org/b.json", true, true, 2, newest, []byte("{}")},
			{"directory takes newest child", "acme/ca.example/users/b@example.org", true, false, 0, newest, nil},
			{"older directory", "acme/ca.example/users/a@example.org", true, false, 0, time.Date(2025, 1, 1, 0, 0, 2, 0, time.UTC), nil},
			{"missing", "certificates/ca.example/example.org", false, false, 0, time.Time{}, nil},
			{"partial component", "certificates/ca.example/example", false, false, 0, time.Time{}, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := s.Exists(ctx, c.key); got != c.exists {
					t.Errorf("Exists(%q) = %v, want %v", c.key, got, c.exists)
				}
				info, err := s.Stat(ctx, c.key)
				if !c.exists {
					if !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("Stat(%q) = %+v, %v; want fs.ErrNotExist", c.key, info, err)
					}
				} else if err != nil {
					t.Errorf("Stat(%q): %v", c.key, err)
				} else if info.Key != c.key || info.IsTerminal != c.terminal || info.Size != c.size || !info.Modified.Equal(c.modified) {
					t.Errorf("Stat(%q) = %+v, want terminal=%v size=%d modified=%v", c.key, info, c.terminal, c.size, c.modified)
				}
				v, err := s.Load(ctx, c.key)
				if c.value == nil {
					if !errors.Is(err, fs.ErrNotExist) {
						t.Errorf("Load(%q) = %q, %v; want fs.ErrNotExist", c.key, v, err)
					}
				} else if err != nil || !bytes.Equal(v, c.value) {
					t.Errorf("Load(%q) = %q, %v; want %q", c.key, v, err, c.value)
				}
			})
		}
		if err := s.Store(ctx, "/", []byte("x")); err == nil {
			t.Error("Store of the empty key succeeded")
		}
	})
}

func TestDelete(t *testing.T) {
	cases := []struct {
		name    string
		key     string
		gone    []string
		remains []string
	}{
		{"file", "top", []string{"top"}, []string{"ocsp/example.com-1234"}},
		{"site directory, not its .au sibling", "certificates/ca.example/example.com",
			[]string{"certificates/ca.example/example.com/example.com.crt", "certificates/ca.example/example.com/example.com.key", "certificates/ca.example/example.com"},
			[]string{"certificates/ca.example/example.com.au/example.com.au.crt"}},
		{"whole tree", "acme",
			[]string{"acme", "acme/ca.example/users/a@example.org/a.key", "acme/ca.example/users/b@example.org/b.json"},
			[]string{"top", "certificates/ca.example/example.com/example.com.crt"}},
		{"missing is fine", "nope/nothing", nil, []string{"top"}},
		{"partial component deletes nothing", "certificates/ca.example/example", nil,
			[]string{"certificates/ca.example/example.com/example.com.crt", "certificates/ca.example/example.com.au/example.com.au.crt"}},
	}
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := certstore.New(open(t), certstore.Options{})
				seed(t, s, nil)
				ctx := t.Context()
				if err := s.Delete(ctx, c.key); err != nil {
					t.Fatalf("Delete(%q): %v", c.key, err)
				}
				for _, k := range c.gone {
					if s.Exists(ctx, k) {
						t.Errorf("%q still exists", k)
					}
				}
				for _, k := range c.remains {
					if !s.Exists(ctx, k) {
						t.Errorf("%q was deleted", k)
					}
				}
				all, err := s.List(ctx, "", true)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range all {
					if slices.Contains(c.gone, k) {
						t.Errorf("List still shows %q", k)
					}
				}
			})
		}
	})
}

func TestDeleteEverythingThenListIsNotExist(t *testing.T) {
	eachBackend(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		s := certstore.New(open(t), certstore.Options{})
		seed(t, s, nil)
		ctx := t.Context()
		for _, top := range []string{"acme", "certificates", "ocsp", "top"} {
			if err := s.Delete(ctx, top); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := s.List(ctx, "", false); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("List of empty storage = %q, %v; want fs.ErrNotExist", got, err)
		}
		if err := s.Delete(ctx, ""); err == nil {
			t.Error("Delete of the root succeeded")
		}
	})
}

func TestCorruptValueIsNotNotExist(t *testing.T) {
	st := memory.New()
	defer st.Close()
	ctx := context.Background()
	if err := st.Put(ctx, certstore.DataPrefix+"bad", []byte("xx"), 0); err != nil {
		t.Fatal(err)
	}
	s := certstore.New(st, certstore.Options{})
	if _, err := s.Load(ctx, "bad"); err == nil || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a corrupt value = %v; want a non-NotExist error", err)
	}
}

func TestStoreErrorsAreWrapped(t *testing.T) {
	st := memory.New()
	s := certstore.New(st, certstore.Options{})
	_ = st.Close()
	ctx := context.Background()
	if err := s.Store(ctx, "a", nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Store on a closed store = %v", err)
	}
	if _, err := s.Load(ctx, "a"); !errors.Is(err, store.ErrClosed) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load on a closed store = %v", err)
	}
	if _, err := s.List(ctx, "", true); !errors.Is(err, store.ErrClosed) {
		t.Errorf("List on a closed store = %v", err)
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete on a closed store = %v", err)
	}
}
