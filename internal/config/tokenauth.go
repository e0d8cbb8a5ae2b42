package config

import (
	"net/url"
	"slices"
)

// JWT holds the jwt_* options: clients that present a JSON Web Token (as
// their password, or with MQTT 5 enhanced authentication, method JWT or
// OAUTH2) are authenticated by its signature and claims.
type JWT struct {
	Keys          []string // jwt_key: PEM public keys or certificates, or a JWKS file
	JWKSURL       string   // jwt_jwks_url
	JWKSRefresh   int      // jwt_jwks_refresh, seconds (300)
	SecretFile    string   // jwt_secret_file: an HMAC secret
	Issuer        string   // jwt_issuer
	Audience      string   // jwt_audience
	UsernameClaim string   // jwt_username_claim ("sub")
	ACLClaim      string   // jwt_acl_claim: "" means the ACL file decides
	RequireExpiry bool     // jwt_require_exp (true)
	Leeway        int      // jwt_leeway, seconds of clock skew allowed (0)
}

// Enabled reports whether tokens are accepted: a key source is set.
func (j *JWT) Enabled() bool {
	return len(j.Keys) > 0 || j.JWKSURL != "" || j.SecretFile != ""
}

// HTTPAuth holds the http_auth_* options: an HTTP service asked whether a
// client may connect and what it may do, as mosquitto-go-auth's HTTP
// backend does.
type HTTPAuth struct {
	UserURL      string // http_auth_user_url
	ACLURL       string // http_auth_acl_url
	SuperuserURL string // http_auth_superuser_url
	Params       string // http_auth_params: json or form ("json")
	Response     string // http_auth_response: status, text or json ("status")
	Timeout      int    // http_auth_timeout, seconds (5)
	CacheSeconds int    // http_auth_cache_seconds (30; 0: no cache)
	CAFile       string // http_auth_cafile: CA for https URLs
}

// Enabled reports whether the service is asked anything.
func (h *HTTPAuth) Enabled() bool {
	return h.UserURL != "" || h.ACLURL != "" || h.SuperuserURL != ""
}

func defaultJWT() JWT {
	return JWT{JWKSRefresh: 300, UsernameClaim: "sub", RequireExpiry: true}
}

func defaultHTTPAuth() HTTPAuth {
	return HTTPAuth{Params: "json", Response: "status", Timeout: 5, CacheSeconds: 30}
}

func (j JWT) clone() JWT {
	j.Keys = slices.Clone(j.Keys)
	return j
}

// tokenAuthOptions are the option table's entries for JWT and HTTP
// authentication. Like password_file they are security options: per
// listener with per_listener_settings.
func tokenAuthOptions() map[string]option {
	jwt := func(s *Security) *JWT { return &s.JWT }
	ha := func(s *Security) *HTTPAuth { return &s.HTTPAuth }
	return map[string]option{
		"jwt_key":            supported(applyJWTKey),
		"jwt_jwks_url":       supported(securityURL(func(s *Security) *string { return &jwt(s).JWKSURL })),
		"jwt_jwks_refresh":   supported(securityIntIn(func(s *Security) *int { return &jwt(s).JWKSRefresh }, 1, 86400)),
		"jwt_secret_file":    supported(securityString(func(s *Security) *string { return &jwt(s).SecretFile })),
		"jwt_issuer":         supported(securityString(func(s *Security) *string { return &jwt(s).Issuer })),
		"jwt_audience":       supported(securityString(func(s *Security) *string { return &jwt(s).Audience })),
		"jwt_username_claim": supported(securityString(func(s *Security) *string { return &jwt(s).UsernameClaim })),
		"jwt_acl_claim":      supported(securityString(func(s *Security) *string { return &jwt(s).ACLClaim })),
		"jwt_require_exp":    supported(securityBool(func(s *Security) *bool { return &jwt(s).RequireExpiry })),
		"jwt_leeway":         supported(securityIntIn(func(s *Security) *int { return &jwt(s).Leeway }, 0, 86400)),

		"http_auth_user_url":      supported(securityURL(func(s *Security) *string { return &ha(s).UserURL })),
		"http_auth_acl_url":       supported(securityURL(func(s *Security) *string { return &ha(s).ACLURL })),
		"http_auth_superuser_url": supported(securityURL(func(s *Security) *string { return &ha(s).SuperuserURL })),
		"http_auth_params":        supported(securityChoice(func(s *Security) *string { return &ha(s).Params }, "json", "form")),
		"http_auth_response":      supported(securityChoice(func(s *Security) *string { return &ha(s).Response }, "status", "text", "json")),
		"http_auth_timeout":       supported(securityIntIn(func(s *Security) *int { return &ha(s).Timeout }, 1, 300)),
		"http_auth_cache_seconds": supported(securityIntIn(func(s *Security) *int { return &ha(s).CacheSeconds }, 0, 86400)),
		"http_auth_cafile":        supported(securityString(func(s *Security) *string { return &ha(s).CAFile })),
	}
}

// applyJWTKey handles `jwt_key FILE`, which may be repeated.
func applyJWTKey(c *call) error {
	v, err := c.str()
	if err != nil {
		return err
	}
	sec := c.security()
	sec.JWT.Keys = append(sec.JWT.Keys, v)
	return nil
}

func securityIntIn(field func(*Security) *int, lo, hi int) func(*call) error {
	return func(c *call) error {
		n, err := c.intIn(lo, hi)
		if err != nil {
			return err
		}
		*field(c.security()) = n
		return nil
	}
}

// securityURL reads an http:// or https:// URL.
func securityURL(field func(*Security) *string) func(*call) error {
	return func(c *call) error {
		dst := field(c.security())
		if err := c.setString(dst); err != nil {
			return err
		}
		u, err := url.Parse(*dst)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.errorf("invalid %s value (%s): want an http:// or https:// URL", c.name, *dst)
		}
		return nil
	}
}

func securityChoice(field func(*Security) *string, choices ...string) func(*call) error {
	return func(c *call) error {
		w, err := c.word()
		if err != nil {
			return err
		}
		if !slices.Contains(choices, w) {
			return c.errorf("invalid %s value (%s): want one of %v", c.name, w, choices)
		}
		*field(c.security()) = w
		return nil
	}
}
