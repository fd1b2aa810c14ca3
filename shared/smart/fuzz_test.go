package smart

import "testing"

// FuzzReadJWT: any string given as a JWT is refused or read; nothing
// panics, and what is read names a key and has iss = sub.
func FuzzReadJWT(f *testing.F) {
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIn0.")
	f.Add("eyJhbGciOiJSUzM4NCIsImtpZCI6ImsifQ.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		_, hdr, claims, ref := readJWT(s)
		if ref != nil {
			if ref.Why == "" {
				t.Fatalf("%q: a refusal without a reason", s)
			}
			return
		}
		if hdr.KeyID == "" || claims.Issuer == "" || claims.Issuer != claims.Subject {
			t.Fatalf("%q read without kid or with iss %q ≠ sub %q", s, claims.Issuer, claims.Subject)
		}
	})
}
