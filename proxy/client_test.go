package proxy

import (
	"slices"
	"testing"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
)

func TestNewClient(t *testing.T) {
	none, err := NewClient("https://sso.example.com", config.Gateway{})
	if err != nil || none != nil {
		t.Fatalf("no app host: %+v, %v; want no client", none, err)
	}
	g := config.Gateway{Routes: []config.Route{{Host: "app.example.com"}, {Host: "*.apps.example.com"}}}
	a, err := NewClient("https://sso.example.com:8443", g)
	if err != nil || a == nil {
		t.Fatalf("NewClient: %+v, %v", a, err)
	}
	b, _ := NewClient("https://sso.example.com:8443", g)
	if a.ID != ClientID || !a.SkipConsent || !a.RequirePKCE || a.Public {
		t.Errorf("client %+v: want the first-party confidential PKCE client %q", a, ClientID)
	}
	if len(a.Secret) < 43 || a.Secret == b.Secret {
		t.Errorf("secrets %q and %q: want 256 random bits per client", a.Secret, b.Secret)
	}
	for _, want := range []string{"https://app.example.com:8443/.gatehouse/callback", "https://sso.example.com:8443/.gatehouse/callback"} {
		if !slices.Contains(a.RedirectURLs, want) {
			t.Errorf("redirect URLs %v lack %s", a.RedirectURLs, want)
		}
	}
	if !slices.Equal(a.GrantTypes, []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken}) {
		t.Errorf("grant types %v", a.GrantTypes)
	}
	if _, err := NewClient("not a url", g); err == nil {
		t.Error("a relative public URL was accepted")
	}
}
