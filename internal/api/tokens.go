package api

// Token roles, from the least to the most allowed; each allows what the
// smaller ones do.
var Roles = []string{"metrics", "reader", "app", "admin"}

// CreateTokenRequest is the body of POST /v1/tokens.
type CreateTokenRequest struct {
	Role string `json:"role"`
	Name string `json:"name"`
	// ExpiresInSec, if positive, ends the token that many seconds after
	// its creation; 0 means never.
	ExpiresInSec int64 `json:"expires_in_sec,omitempty"`
}

// Validate checks the role, the name's length and the expiry.
func (r *CreateTokenRequest) Validate() error {
	known := false
	for _, x := range Roles {
		known = known || x == r.Role
	}
	if !known {
		return Errorf(CodeInvalidArgument, "role must be one of metrics, reader, app, admin")
	}
	if len(r.Name) > 128 {
		return Errorf(CodeInvalidArgument, "token name must be at most 128 bytes")
	}
	if r.ExpiresInSec < 0 || r.ExpiresInSec > 100*365*24*3600 {
		return Errorf(CodeInvalidArgument, "expires_in_sec out of range")
	}
	return nil
}

// Token describes an API token. Token, the secret, is set only in the
// reply that created it; the cluster keeps only its hash.
type Token struct {
	ID   string `json:"id"`
	Role string `json:"role"`
	Name string `json:"name"`
	// CreatedMs and ExpiresMs are Unix ms; ExpiresMs 0 means never.
	CreatedMs int64  `json:"created_ms"`
	ExpiresMs int64  `json:"expires_ms,omitempty"`
	Token     string `json:"token,omitempty"`
}
