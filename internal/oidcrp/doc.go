// Package oidcrp is Gatehouse's relying party: the client side of an
// OpenID Connect (or plain OAuth 2) authorization code flow with PKCE.
// The gateway signs browsers in to Gatehouse's own IdP with it, and
// upstream sign-in providers (Google, Facebook, Seznam, any OpenID
// provider) sign people in to Gatehouse with it.
//
// A flow starts with [RP.Start]: it seals everything the callback needs
// (nonce, PKCE verifier, redirect URI and the caller's own data) into
// the OAuth state, so starting a flow writes nothing to a store, and
// binds that state to the browser with a cookie holding its digest. The
// callback ([RP.Callback], or its steps [RP.Decode], [RP.Bound] and
// [RP.Finish] for a caller that binds differently) refuses a state that
// is forged, expired or not bound to the browser, a response naming
// another issuer (RFC 9207), an error the provider sent back, and a
// missing code; it exchanges the code with the verifier, authenticating
// the client as configured, and verifies the ID token (signature,
// issuer, audience, expiry, nonce). Errors are sentinel values so that
// each caller shows its own page.
//
// The package knows nothing about sessions, users or pages; it does not
// write HTTP responses beyond the binding cookie.
package oidcrp
