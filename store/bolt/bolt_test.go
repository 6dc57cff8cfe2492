package bolt_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-sso/gatehouse/store"
	"github.com/gatehouse-sso/gatehouse/store/bolt"
	"github.com/gatehouse-sso/gatehouse/store/storetest"
)

// helperEnv names the database file a re-executed test binary should hold
// open; see TestHelperProcess.
const helperEnv = "GATEHOUSE_BOLT_HELPER_DB"

func openTemp(t testing.TB) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "gatehouse.db"), bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// TestConformance runs the suite in real time: bolt keeps the wall-clock
// path the suite exercises for server backends.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New: func(t *testing.T) store.Store { return openTemp(t) },
		Handle: func(t *testing.T, s store.Store) store.Store {
			h, err := s.(*bolt.Store).Handle()
			if err != nil {
				t.Fatalf("Handle: %v", err)
			}
			return h
		},
	})
}

func TestPersistence(t *testing.T) {
	storetest.RunPersistence(t, func(t *testing.T, dir string) store.Store {
		s, err := bolt.Open(filepath.Join(dir, "gatehouse.db"), bolt.Options{})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOpenCreatesDirectoryAndFilePrivately(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "sub", "gatehouse.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	for _, c := range []struct {
		path string
		want os.FileMode
	}{
		{filepath.Dir(path), 0o700},
		{filepath.Dir(filepath.Dir(path)), 0o700},
		{path, 0o600},
	} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("mode of %s = %v, want %v", c.path, got, c.want)
		}
	}
}

func TestOpenEmptyPath(t *testing.T) {
	if _, err := bolt.Open("", bolt.Options{}); err == nil {
		t.Fatal("Open(\"\") succeeded")
	}
}

// TestHelperProcess is not a real test: TestLockedByAnotherProcess runs the
// test binary again with helperEnv set, and this function then holds the
// store open until its stdin is closed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		return
	}
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	if err := s.Put(t.Context(), "written-by", []byte("helper"), 0); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	os.Exit(0)
}

func TestLockedByAnotherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := false
	t.Cleanup(func() {
		if !exited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})

	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("unexpected output %q", line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("helper process did not get ready: %v; stderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("helper process did not get ready within 30s")
	}

	const timeout = 500 * time.Millisecond
	start := time.Now()
	s, err := bolt.Open(path, bolt.Options{LockTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while another process holds the file")
	}
	t.Logf("Open error after %s: %v", elapsed, err)
	wantLockedError(t, err, path)
	if elapsed > timeout+5*time.Second {
		t.Errorf("Open took %s with LockTimeout %s", elapsed, timeout)
	}

	// Once the other process exits, the file opens and holds its data.
	if err := stdin.Close(); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	exited = true
	if err != nil {
		t.Fatalf("helper process: %v; stderr: %s", err, stderr.String())
	}
	s, err = bolt.Open(path, bolt.Options{LockTimeout: timeout})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	defer s.Close()
	got, err := s.Get(t.Context(), "written-by")
	if err != nil || string(got) != "helper" {
		t.Fatalf("Get(written-by) = %q, %v; want %q", got, err, "helper")
	}
}

// On Linux, flock locks belong to the open file description, so a second
// Open in the same process conflicts as well.
func TestLockedInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 300 * time.Millisecond
	start := time.Now()
	s, err := bolt.Open(path, bolt.Options{LockTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded")
	}
	wantLockedError(t, err, path)
	if elapsed > timeout+5*time.Second {
		t.Errorf("Open took %s with LockTimeout %s", elapsed, timeout)
	}

	// Close releases the lock.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(path, bolt.Options{LockTimeout: timeout})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

func wantLockedError(t *testing.T, err error, path string) {
	t.Helper()
	if !errors.Is(err, bolt.ErrLocked) {
		t.Errorf("error %q does not wrap ErrLocked", err)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("%q", path)) || !strings.Contains(msg, "locked by another process") {
		t.Errorf("error %q does not name the file %q and the lock", msg, path)
	}
}

func TestNotABoltFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"text":    []byte("this is not a database\n"),
		"garbage": bytes.Repeat([]byte("gatehouse?\x00\xff"), 4096),
		"zeros":   make([]byte, 64<<10),
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "gatehouse.db")
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(path, bolt.Options{LockTimeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a non-bolt file")
			}
			t.Logf("Open error: %v", err)
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", path)) {
				t.Errorf("error %q does not name the file", err)
			}
			// The file is left alone.
			got, rerr := os.ReadFile(path)
			if rerr != nil || !bytes.Equal(got, content) {
				t.Errorf("Open modified the file")
			}
		})
	}
}

func TestOpenDirectory(t *testing.T) {
	path := t.TempDir()
	s, err := bolt.Open(path, bolt.Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded on a directory")
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("%q", path)) {
		t.Errorf("error %q does not name the path", err)
	}
}

func BenchmarkGet(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	storetest.BenchGet(b, s)
}

func BenchmarkPut(b *testing.B) {
	s := openTemp(b)
	defer s.Close()
	storetest.BenchPut(b, s)
}

// TestHandleSharesFile checks that a handle outlives the one it was made
// from, and that the file's lock is released only with the last handle.
func TestHandleSharesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	first, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := first.Handle()
	if err != nil {
		t.Fatalf("Handle: %v", err)
	}
	if err := first.Put(t.Context(), "k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close(first): %v", err)
	}
	if _, err := first.Handle(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Handle of a closed handle = %v, want ErrClosed", err)
	}
	if got, err := second.Get(t.Context(), "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get through the second handle = %q, %v", got, err)
	}
	if s, err := bolt.Open(path, bolt.Options{LockTimeout: 100 * time.Millisecond}); !errors.Is(err, bolt.ErrLocked) {
		if err == nil {
			s.Close()
		}
		t.Fatalf("Open while a handle is open = %v, want ErrLocked", err)
	}
	if err := second.Close(); err != nil {
		t.Fatalf("Close(second): %v", err)
	}
	s, err := bolt.Open(path, bolt.Options{LockTimeout: time.Second})
	if err != nil {
		t.Fatalf("Open after the last handle closed: %v", err)
	}
	s.Close()
}
