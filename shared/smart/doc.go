// Package smart is handoff's side of SMART on FHIR and the OAuth 2.0 it
// rests on: the JSON Web Tokens a clinic's EHR signs, the keys they are
// checked against, and the access tokens handoff gives in return.
//
//   - A Registry holds what each client (a clinic's EHR) registered: a JSON
//     Web Key Set, inline or at a URL. Verify checks a JWT one of them
//     signed: the token endpoint's client assertions (SMART Backend
//     Services), and, with another audience, any other JWT an EHR sends
//     handoff. Key sets fetched by URL are kept per URL and fetched at most
//     once a minute, whatever their Cache-Control says; a failed fetch is
//     remembered as long.
//   - A TokenEndpoint answers client_credentials requests (RFC 6749 §4.4
//     with a private_key_jwt assertion, RFC 7523): an access token, or an
//     *OAuthError whose description never carries internals.
//   - AccessTokens makes and checks those access tokens: a MAC over the
//     client and its scopes, nothing stored.
//   - Scopes are SMART v2 (system/Task.cru, system/Subscription.rs) or the
//     v1 forms EHRs still send (system/Task.read, system/*.*); a Grant says
//     what a checked token allows.
//
// The package speaks JOSE through github.com/go-jose/go-jose/v4 and reaches
// JWKS URLs through the HTTP client it is given (the outbound address
// guard's, so a key set URL cannot reach private addresses). It knows
// nothing of referrals: its callers give it clients and a replay store.
package smart
