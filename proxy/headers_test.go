package proxy

import (
	"net/http"
	"testing"

	"github.com/gatehouse-sso/gatehouse/identity"
)

func TestStripIdentity(t *testing.T) {
	h := http.Header{}
	spoofed := []string{
		"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
		"Remote-User", "Remote-Email", "Remote-Groups", "Remote-Name",
		"X-Auth-Request-User", "X-Forwarded-Access-Token", "X-Gatehouse-Assertion",
	}
	for _, name := range spoofed {
		h.Add(name, "mallory")
		h.Add(name, "second copy")
	}
	// Non-canonical spellings arrive as separate map keys.
	h["x-forwarded-user"] = []string{"mallory"}
	h["X_Forwarded_User"] = []string{"mallory"}
	h["REMOTE_USER"] = []string{"mallory"}
	h["Remote_Groups"] = []string{"admins"}
	h.Set("X-Forwarded-For", "192.0.2.1")
	h.Set("Accept", "text/html")

	StripIdentity(h)
	for name := range h {
		if name != "X-Forwarded-For" && name != "Accept" {
			t.Errorf("identity header %q survived", name)
		}
	}
	if h.Get("Accept") != "text/html" || h.Get("X-Forwarded-For") != "192.0.2.1" {
		t.Error("StripIdentity removed unrelated headers")
	}
}

func TestSetIdentity(t *testing.T) {
	h := http.Header{}
	SetIdentity(h, identity.User{Username: "alice", Email: "alice@example.com", Name: "Alice L", Groups: []string{"a", "b"}})
	want := map[string]string{
		HeaderForwardedUser: "alice", HeaderForwardedEmail: "alice@example.com", HeaderForwardedGroups: "a,b",
		HeaderForwardedPreferredUsername: "alice", HeaderRemoteUser: "alice", HeaderRemoteEmail: "alice@example.com",
		HeaderRemoteGroups: "a,b", HeaderRemoteName: "Alice L",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	// Empty values are not sent at all.
	h = http.Header{}
	SetIdentity(h, identity.User{Username: "bob"})
	if _, ok := h[HeaderForwardedEmail]; ok {
		t.Error("empty e-mail header sent")
	}
}
