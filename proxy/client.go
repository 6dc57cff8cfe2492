package proxy

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"

	"github.com/gatehouse-sso/gatehouse/config"
	"github.com/gatehouse-sso/gatehouse/idp/clients"
)

// NewClient returns the gateway's internal OIDC client for the IdP to
// register: redirect URLs on every exact app host and on Gatehouse's own
// host (see [ClientRedirectURLs]), first-party (no consent), PKCE, and a
// secret generated here, for this process only (the gateway exchanges
// codes in process, so no other process needs it). Pass the same Spec's
// ID and Secret to the Gateway. It returns nil when no app host is
// configured.
func NewClient(publicURL string, g config.Gateway) (*clients.Spec, error) {
	redirects, postLogout, err := ClientRedirectURLs(publicURL, g)
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	if redirects == nil {
		return nil, nil
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	return &clients.Spec{
		ID: ClientID, Secret: base64.RawURLEncoding.EncodeToString(b[:]), Name: "Gatehouse gateway",
		RedirectURLs: redirects, PostLogoutRedirectURLs: postLogout, SkipConsent: true, RequirePKCE: true,
		GrantTypes: []string{clients.GrantAuthorizationCode, clients.GrantRefreshToken},
	}, nil
}
