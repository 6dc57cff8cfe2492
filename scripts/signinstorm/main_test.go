package main

import (
	"io"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestStatus_ReadsThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc: Linux only")
	}
	p, err := status(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.rss <= 0 || p.hwm < p.rss {
		t.Fatalf("VmRSS %d KiB, VmHWM %d KiB: want 0 < VmRSS <= VmHWM", p.rss, p.hwm)
	}
}

func TestRun_RefusesBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "--binary is required"},
		{[]string{"--binary", "x", "--n", "0"}, "--n must be 1 to 5000"},
		{[]string{"--binary", "x", "--n", "5001"}, "--n must be 1 to 5000"},
	} {
		if err := run(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%q) = %v, want %q", tc.args, err, tc.want)
		}
	}
}
