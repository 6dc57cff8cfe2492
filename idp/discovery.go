package idp

import (
	"net/http"
	"slices"

	"github.com/gatehouse-sso/gatehouse/idp/authn"
	"github.com/gatehouse-sso/gatehouse/idp/keys"
)

// discoveryDoc is the OpenID Provider Metadata (OpenID Connect Discovery
// 1.0 §3, RFC 8414).
type discoveryDoc struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	EndSessionEndpoint                         string   `json:"end_session_endpoint"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
	ACRValuesSupported                         []string `json:"acr_values_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	SubjectTypesSupported                      []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	PromptValuesSupported                      []string `json:"prompt_values_supported"`
	ClaimTypesSupported                        []string `json:"claim_types_supported"`
	RequestParameterSupported                  bool     `json:"request_parameter_supported"`
	RequestURIParameterSupported               bool     `json:"request_uri_parameter_supported"`
	ClaimsParameterSupported                   bool     `json:"claims_parameter_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	BackchannelLogoutSupported                 bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported          bool     `json:"backchannel_logout_session_supported"`
	FrontchannelLogoutSupported                bool     `json:"frontchannel_logout_supported"`
}

// discoveryDocument builds the metadata.
func (p *Provider) discoveryDocument() discoveryDoc {
	algs := slices.Clone(p.o.Keys.Algorithms())
	slices.SortStableFunc(algs, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == keys.RS256:
			return -1
		case b == keys.RS256:
			return 1
		}
		return 0
	})
	return discoveryDoc{
		Issuer:                                     p.issuer,
		AuthorizationEndpoint:                      p.url(pathAuthorize),
		TokenEndpoint:                              p.url(pathToken),
		UserinfoEndpoint:                           p.url(pathUserinfo),
		JWKSURI:                                    p.url(pathJWKS),
		EndSessionEndpoint:                         p.url(pathEndSession),
		RevocationEndpoint:                         p.url(pathRevoke),
		IntrospectionEndpoint:                      p.url(pathIntrospect),
		ScopesSupported:                            p.scopes.names(),
		ClaimsSupported:                            p.scopes.claimNames(),
		ACRValuesSupported:                         []string{authn.ACRSingleFactor, authn.ACRMultiFactor},
		ResponseTypesSupported:                     []string{"code"},
		ResponseModesSupported:                     []string{modeQuery, modeFormPost},
		GrantTypesSupported:                        []string{"authorization_code", "refresh_token", "client_credentials"},
		SubjectTypesSupported:                      []string{"public"},
		IDTokenSigningAlgValuesSupported:           algs,
		TokenEndpointAuthMethodsSupported:          []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethodsSupported:     []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethodsSupported:  []string{"client_secret_basic", "client_secret_post"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		PromptValuesSupported:                      []string{promptNone, promptLogin, promptConsent, promptSelectAccount},
		ClaimTypesSupported:                        []string{"normal"},
		AuthorizationResponseIssParameterSupported: true,
		BackchannelLogoutSupported:                 true,
		BackchannelLogoutSessionSupported:          true,
	}
}

// discovery serves {issuer}/.well-known/openid-configuration to anyone,
// browsers of any origin included.
func (p *Provider) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, p.discoveryDocument())
}
