package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestReadHeaders(t *testing.T) {
	cases := []struct {
		name    string
		file    string
		want    []header
		wantErr string
	}{
		{
			name: "curl -D output",
			file: "HTTP/1.1 200 OK\r\nRemote-User: alice\r\nx-forwarded-email:  alice@example.com \r\n" +
				"Date: Wed, 25 Nov 2026 23:23:47 GMT\r\nContent-Length: 0\r\nContent-Type: text/plain\r\n\r\n",
			want: []header{
				{name: "Remote-User", value: []string{"alice"}},
				{name: "X-Forwarded-Email", value: []string{"alice@example.com"}},
			},
		},
		{
			name: "bare LF lines",
			file: "HTTP/1.1 200 OK\nRemote-Name: Alice Example\n\n",
			want: []header{{name: "Remote-Name", value: []string{"Alice Example"}}},
		},
		{name: "only skipped headers", file: "HTTP/1.1 200 OK\r\nDate: x\r\nContent-Length: 0\r\n\r\n", want: nil},
		{name: "empty", file: "", wantErr: "want a response head"},
		{name: "no status line", file: "Remote-Name: Alice Example\r\n\r\n", wantErr: "want a response head"},
		{name: "no colon", file: "HTTP/1.1 200 OK\r\nRemote-User alice\r\n\r\n", wantErr: "want a response head"},
		{name: "no name", file: "HTTP/1.1 200 OK\r\n: alice\r\n\r\n", wantErr: "want a response head"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "answer.txt")
			if err := os.WriteFile(file, []byte(c.file), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := readHeaders(file)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
	if _, err := readHeaders(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "read --headers") {
		t.Errorf("missing file: err %v", err)
	}
}
