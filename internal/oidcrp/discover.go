package oidcrp

import (
	"context"
	"fmt"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Discover reads the provider's OpenID configuration
// (issuer + "/.well-known/openid-configuration") with client
// (http.DefaultClient when nil). The document must name issuer itself.
func Discover(ctx context.Context, client *http.Client, issuer string) (Endpoints, error) {
	if client == nil {
		client = http.DefaultClient
	}
	p, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
	if err != nil {
		return Endpoints{}, fmt.Errorf("oidcrp: discover %s: %w", issuer, err)
	}
	var doc struct {
		JWKS         string `json:"jwks_uri"`
		IssParameter bool   `json:"authorization_response_iss_parameter_supported"`
	}
	if err := p.Claims(&doc); err != nil {
		return Endpoints{}, fmt.Errorf("oidcrp: discover %s: %w", issuer, err)
	}
	e := p.Endpoint()
	return Endpoints{
		AuthURL: e.AuthURL, TokenURL: e.TokenURL, JWKSURL: doc.JWKS,
		UserInfoURL: p.UserInfoEndpoint(), IssParameter: doc.IssParameter,
	}, nil
}
