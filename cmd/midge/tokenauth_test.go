//go:build unix

package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/midge-mqtt/midge/internal/auth"
	"github.com/midge-mqtt/midge/internal/packet"
)

// tokenSigner signs test tokens with one of two keys, served as a key set
// that the test can rotate.
type tokenSigner struct {
	keys map[string]*rsa.PrivateKey
	set  atomic.Value // []byte: the JWKS served
	srv  *httptest.Server
}

func newTokenSigner(t *testing.T) *tokenSigner {
	t.Helper()
	s := &tokenSigner{keys: map[string]*rsa.PrivateKey{}}
	for _, kid := range []string{"k1", "k2"} {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		s.keys[kid] = k
	}
	s.serve(t, "k1")
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.set.Load().([]byte))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// serve makes the key set hold only the keys named.
func (s *tokenSigner) serve(t *testing.T, kids ...string) {
	var set jose.JSONWebKeySet
	for _, kid := range kids {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &s.keys[kid].PublicKey, KeyID: kid, Algorithm: "RS256", Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.set.Store(b)
}

// token signs claims for sub, valid for ttl, with rights acl, with the key kid.
func (s *tokenSigner) token(t *testing.T, kid, sub string, ttl time.Duration, acl map[string][]string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: s.keys[kid]}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	c := map[string]any{"sub": sub, "iss": "https://id.test/", "exp": time.Now().Add(ttl).Unix(), "iat": time.Now().Unix()}
	if acl != nil {
		c["acl"] = acl
	}
	tok, err := jwt.Signed(sig).Claims(c).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func tokenPasswordFile(t *testing.T, users ...string) string {
	t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(users); i += 2 {
		h, err := auth.HashPassword(users[i+1], "sha512-pbkdf2", 101)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", users[i], h)
	}
	path := filepath.Join(t.TempDir(), "passwd")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// dialWith connects with a CONNECT built by the caller and returns the
// connection and its CONNACK (nil connection when refused).
func dialWith(t *testing.T, port int, c *packet.Connect) (*dynsecConn, *packet.Connack) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.ProtocolName, c.CleanStart, c.KeepAlive = "MQTT", true, 60
	conn := &dynsecConn{nc: nc, v: c.ProtocolVersion, id: c.ClientID}
	if err := conn.send(c); err != nil {
		t.Fatal(err)
	}
	p, err := conn.recv(5 * time.Second)
	if err != nil {
		nc.Close()
		t.Fatalf("%s: no CONNACK: %v", c.ClientID, err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		t.Fatalf("%s: %T instead of CONNACK", c.ClientID, p)
	}
	if ack.ReasonCode != 0 {
		nc.Close()
		return nil, ack
	}
	t.Cleanup(conn.close)
	return conn, ack
}

func passwordConnect(v byte, id, user, pw string) *packet.Connect {
	return &packet.Connect{ProtocolVersion: v, ClientID: id, UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(pw)}
}

func methodConnect(id, method, token string) *packet.Connect {
	c := &packet.Connect{ProtocolVersion: packet.V5, ClientID: id}
	c.Properties.AuthMethod, c.Properties.AuthData = method, []byte(token)
	c.Properties.Set(packet.PropAuthMethod)
	c.Properties.Set(packet.PropAuthData)
	return c
}

func (c *dynsecConn) subscribeTo(t *testing.T, filter string) byte {
	t.Helper()
	if err := c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}}); err != nil {
		t.Fatal(err)
	}
	p, _, err := c.await(func(p packet.Packet) bool { _, ok := p.(*packet.Suback); return ok })
	if err != nil {
		t.Fatalf("%s: no SUBACK: %v", c.id, err)
	}
	return byte(p.(*packet.Suback).ReasonCodes[0])
}

func (c *dynsecConn) publishTo(t *testing.T, topic, payload string) {
	t.Helper()
	if err := c.send(&packet.Publish{Topic: topic, Payload: []byte(payload)}); err != nil {
		t.Fatal(err)
	}
}

// received reads for a while and returns the topics of the messages
// received, with their payloads.
func (c *dynsecConn) received(d time.Duration) []string {
	var got []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		p, err := c.recv(time.Until(deadline))
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok {
			got = append(got, pub.Topic+"="+string(pub.Payload))
			if pub.QoS == 1 {
				c.send(&packet.Ack{Kind: packet.PUBACK, PacketID: pub.PacketID})
			}
		}
	}
	return got
}

// ended waits for the broker to end the connection and returns the
// DISCONNECT reason it sent (-1 for none) and how long it took.
func (c *dynsecConn) ended(within time.Duration) (int, time.Duration) {
	start := time.Now()
	for time.Since(start) < within {
		p, err := c.recv(within - time.Since(start))
		if err != nil {
			return -1, time.Since(start)
		}
		if d, ok := p.(*packet.Disconnect); ok {
			return int(d.ReasonCode), time.Since(start)
		}
	}
	return -2, time.Since(start)
}

// metric reads one value of the admin listener's /metrics.
func metric(t *testing.T, aport int, series string) float64 {
	t.Helper()
	_, body := adminDo(t, "GET", fmt.Sprintf("http://127.0.0.1:%d/metrics", aport), "")
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", series)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// startAuthMidge runs midge with one MQTT listener without anonymous
// clients, the security lines given, and an open admin listener on
// loopback for /metrics. It returns both ports and the log.
func startAuthMidge(t *testing.T, security ...string) (int, int, *syncBuffer) {
	t.Helper()
	port, aport := freePort(t), freePort(t)
	lines := append([]string{"user root", fmt.Sprintf("listener %d 127.0.0.1", port), "allow_anonymous false"}, security...)
	lines = append(lines, fmt.Sprintf("admin_listener 127.0.0.1:%d", aport), "admin_allow_anonymous true")
	_, log := startMidge(t, "midge", "-c", writeConf(t, lines...))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("midge log:\n%s", log)
		}
	})
	return port, aport, log
}

// TestJWTAuthentication runs midge with tokens from a key set URL, the
// rights in an ACL claim, and a password file beside them, and checks:
// tokens as passwords (3.1.1) and with enhanced authentication (5.0),
// refused tokens, the rights of the claim, the password file still
// working, a connected client disconnected when its token expires, one
// that re-authenticates staying on, a key rotation, and the counts in
// /metrics.
func TestJWTAuthentication(t *testing.T) {
	s := newTokenSigner(t)
	port, aport, log := startAuthMidge(t,
		"password_file "+tokenPasswordFile(t, "filey", "fpw"),
		"jwt_jwks_url "+s.srv.URL,
		"jwt_jwks_refresh 2",
		"jwt_issuer https://id.test/",
		"jwt_acl_claim acl",
	)
	rights := map[string][]string{"pub": {"devices/dev1/#"}, "sub": {"commands/dev1/#"}}

	// The password file's user sees everything (no ACL file).
	watcher, ack := dialWith(t, port, passwordConnect(packet.V311, "watcher", "filey", "fpw"))
	if watcher == nil {
		t.Fatalf("password file user refused: 0x%02x", byte(ack.ReasonCode))
	}
	watcher.subscribeTo(t, "#")

	// A 3.1.1 device with its token as the password; the username it
	// sends is replaced by the token's subject.
	dev, ack := dialWith(t, port, passwordConnect(packet.V311, "dev1", "ignored", s.token(t, "k1", "dev1", time.Hour, rights)))
	if dev == nil {
		t.Fatalf("valid token refused: 0x%02x", byte(ack.ReasonCode))
	}
	if rc := dev.subscribeTo(t, "commands/dev1/+"); rc != 1 {
		t.Errorf("subscribe within the claim: 0x%02x", rc)
	}
	if rc := dev.subscribeTo(t, "commands/#"); rc != 0x80 {
		t.Errorf("subscribe beyond the claim: 0x%02x", rc)
	}
	dev.publishTo(t, "devices/dev1/temp", "21")
	dev.publishTo(t, "devices/dev2/temp", "forged")
	watcher.publishTo(t, "commands/dev1/reboot", "now")
	got := watcher.received(time.Second)
	if slices.Sort(got); strings.Join(got, " ") != "commands/dev1/reboot=now devices/dev1/temp=21" {
		t.Errorf("watcher got %v", got)
	}
	if got := dev.received(500 * time.Millisecond); strings.Join(got, " ") != "commands/dev1/reboot=now" {
		t.Errorf("device got %v", got)
	}

	// Refused: expired, signed by a key not in the set, a wrong file password.
	for name, c := range map[string]*packet.Connect{
		"expired":      passwordConnect(packet.V311, "x1", "x", s.token(t, "k1", "dev1", -time.Minute, rights)),
		"unknown key":  passwordConnect(packet.V311, "x2", "x", s.token(t, "k2", "dev1", time.Hour, rights)),
		"bad password": passwordConnect(packet.V311, "x3", "filey", "wrong"),
		"v5 expired":   methodConnect("x4", "JWT", s.token(t, "k1", "dev1", -time.Minute, rights)),
	} {
		if conn, ack := dialWith(t, port, c); conn != nil {
			t.Errorf("%s: accepted", name)
		} else if want := byte(5); c.ProtocolVersion == packet.V5 && byte(ack.ReasonCode) != 0x87 || c.ProtocolVersion != packet.V5 && byte(ack.ReasonCode) != want {
			t.Errorf("%s: CONNACK 0x%02x", name, byte(ack.ReasonCode))
		}
	}
	if conn, ack := dialWith(t, port, methodConnect("x5", "SCRAM-SHA-256", "x")); conn != nil || ack.ReasonCode != packet.BadAuthenticationMethod {
		t.Errorf("unknown method: %v", ack)
	}

	// MQTT 5 enhanced authentication; the token expires in 3 s and the
	// broker ends the connection then with 0xA0 Maximum connect time.
	// The token's exp is in whole seconds, so it expires between 2 and
	// 3 s after it is made: count from here, not from the wait below.
	issued := time.Now()
	short, ack := dialWith(t, port, methodConnect("short", "JWT", s.token(t, "k1", "dev1", 3*time.Second, rights)))
	if short == nil {
		t.Fatalf("enhanced authentication refused: %v", ack)
	}
	if ack.Properties.AuthMethod != "JWT" {
		t.Errorf("CONNACK authentication method %q", ack.Properties.AuthMethod)
	}
	// A 3.1.1 client's token as its password expires too: it is
	// disconnected (3.x has no DISCONNECT from the server).
	dialed := time.Now()
	short3, ack := dialWith(t, port, passwordConnect(packet.V311, "short3", "x", s.token(t, "k1", "dev1", 3*time.Second, rights)))
	if short3 == nil {
		t.Fatalf("3.1.1 token refused: %v", ack)
	}
	// Another one re-authenticates with a fresh token before its expires.
	renewed, ack := dialWith(t, port, methodConnect("renewed", "OAUTH2", s.token(t, "k1", "dev1", 3*time.Second, rights)))
	if renewed == nil {
		t.Fatalf("OAUTH2 refused: %v", ack)
	}
	reauth := &packet.Auth{ReasonCode: packet.ReAuthenticate}
	reauth.Properties.AuthMethod, reauth.Properties.AuthData = "OAUTH2", []byte(s.token(t, "k1", "dev1", time.Hour, rights))
	reauth.Properties.Set(packet.PropAuthMethod)
	reauth.Properties.Set(packet.PropAuthData)
	renewed.send(reauth)
	p, _, err := renewed.await(func(p packet.Packet) bool { _, ok := p.(*packet.Auth); return ok })
	if err != nil || p.(*packet.Auth).ReasonCode != packet.Success {
		t.Fatalf("re-authentication: %v %v", p, err)
	}
	if reason, _ := short.ended(6 * time.Second); reason != int(packet.MaximumConnectTime) || time.Since(issued) < 2*time.Second {
		t.Errorf("expiring token: DISCONNECT %d %v after the token was made, want 0xA0 after 2-3 s", reason, time.Since(issued))
	}
	if reason, _ := short3.ended(6 * time.Second); reason != -1 || time.Since(dialed) < 2*time.Second {
		t.Errorf("expiring 3.1.1 token: ended with %d after %v, want closed after about 3 s", reason, time.Since(dialed))
	}
	renewed.send(&packet.Pingreq{})
	if p, _, err := renewed.await(func(p packet.Packet) bool { _, ok := p.(*packet.Pingresp); return ok }); err != nil {
		t.Errorf("the re-authenticated client was disconnected: %v %v", p, err)
	}
	// A re-authentication with a bad token ends the connection.
	reauth.Properties.AuthData = []byte(s.token(t, "k1", "dev1", -time.Minute, rights))
	renewed.send(reauth)
	if reason, _ := renewed.ended(5 * time.Second); reason != int(packet.NotAuthorized) {
		t.Errorf("bad re-authentication: DISCONNECT %d, want 0x87", reason)
	}

	// The provider rotates to k2: k2 tokens are accepted once the set is
	// fetched again, k1 tokens no more.
	s.serve(t, "k2")
	time.Sleep(2500 * time.Millisecond) // jwt_jwks_refresh 2
	if conn, ack := dialWith(t, port, passwordConnect(packet.V311, "k2dev", "x", s.token(t, "k2", "dev1", time.Hour, rights))); conn == nil {
		t.Errorf("token of the new key refused: %v", ack)
	}
	if conn, _ := dialWith(t, port, passwordConnect(packet.V311, "k1dev", "x", s.token(t, "k1", "dev1", time.Hour, rights))); conn != nil {
		t.Error("token of the retired key accepted")
	}

	if n := metric(t, aport, `midge_auth_checks_total{backend="jwt",result="allow"}`); n < 4 {
		t.Errorf("jwt allowed %v", n)
	}
	if n := metric(t, aport, `midge_auth_checks_total{backend="jwt",result="deny"}`); n < 5 {
		t.Errorf("jwt denied %v", n)
	}
	if !strings.Contains(log.String(), "Client short has been disconnected: its credentials expired.") {
		t.Error("no log line for the expired token")
	}
}

// TestJWTKeyFileReloaded rotates the key of a jwt_key file: on SIGHUP the
// new key's tokens are accepted, the old key's refused and its connected
// client disconnected; a key file that no longer parses keeps the keys
// in force.
func TestJWTKeyFileReloaded(t *testing.T) {
	s := newTokenSigner(t)
	keyFile := filepath.Join(t.TempDir(), "jwt.pem")
	writeKey := func(b []byte) {
		if err := os.WriteFile(keyFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	publicPEM := func(kid string) []byte {
		der, err := x509.MarshalPKIXPublicKey(&s.keys[kid].PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	writeKey(publicPEM("k1"))
	port := freePort(t)
	cmd, log := startMidge(t, "midge", "-c", writeConf(t, "user root", fmt.Sprintf("listener %d 127.0.0.1", port),
		"allow_anonymous false", "jwt_key "+keyFile, "jwt_issuer https://id.test/"))
	accepted := func(id, kid string) *dynsecConn {
		c, _ := dialWith(t, port, passwordConnect(packet.V311, id, "x", s.token(t, kid, "dev1", time.Hour, nil)))
		return c
	}
	k1 := accepted("k1a", "k1")
	if k1 == nil || accepted("k2a", "k2") != nil {
		t.Fatalf("at the start: want k1 tokens only\n%s", log)
	}
	writeKey(publicPEM("k2"))
	cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, log, "Disconnected 1 clients refused by the reloaded configuration.")
	if reason, _ := k1.ended(5 * time.Second); reason != -1 {
		t.Errorf("the old key's client: %d", reason)
	}
	if accepted("k2b", "k2") == nil || accepted("k1b", "k1") != nil {
		t.Fatal("after the rotation: want k2 tokens only")
	}
	writeKey([]byte("not a key\n"))
	cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, log, "keeping the previous password and ACL files")
	if accepted("k2c", "k2") == nil {
		t.Error("a broken key file dropped the keys in force")
	}
	stopMidge(t, cmd.Process.Pid, cmd.Wait)
}

// TestHTTPAuthentication runs midge against a test HTTP service for users
// and access, with a password file beside it, and checks the answers, the
// order (the service first, the file for users it does not know), and
// that a service that is down refuses and is counted.
func TestHTTPAuthentication(t *testing.T) {
	var down atomic.Bool
	var requests atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		var p struct {
			Username, Password, ClientID, Topic string
			Acc                                 int
		}
		json.NewDecoder(r.Body).Decode(&p)
		ok := false
		switch r.URL.Path {
		case "/user":
			if p.Username != "svcuser" {
				http.NotFound(w, r)
				return
			}
			ok = p.Password == "spw"
		case "/acl":
			if p.Username != "svcuser" {
				http.NotFound(w, r)
				return
			}
			ok = strings.HasPrefix(p.Topic, "svc/") || (p.Topic == "ro" && p.Acc != 2)
		}
		json.NewEncoder(w).Encode(map[string]bool{"ok": ok})
	}))
	defer svc.Close()
	acl := filepath.Join(t.TempDir(), "acl")
	os.WriteFile(acl, []byte("user filey\ntopic readwrite file/#\ntopic read svc/#\n"), 0o600)
	port, aport, log := startAuthMidge(t,
		"password_file "+tokenPasswordFile(t, "filey", "fpw", "svcuser", "file-password-not-used"),
		"acl_file "+acl,
		"http_auth_user_url "+svc.URL+"/user",
		"http_auth_acl_url "+svc.URL+"/acl",
		"http_auth_response json",
		"http_auth_cache_seconds 0",
		"http_auth_timeout 2",
	)
	svcUser, ack := dialWith(t, port, passwordConnect(packet.V5, "s1", "svcuser", "spw"))
	if svcUser == nil {
		t.Fatalf("service user refused: %v", ack)
	}
	if conn, ack := dialWith(t, port, passwordConnect(packet.V5, "s2", "svcuser", "file-password-not-used")); conn != nil || ack.ReasonCode != packet.NotAuthorized {
		t.Errorf("the service's no was not final: %v", ack)
	}
	fileUser, ack := dialWith(t, port, passwordConnect(packet.V311, "f1", "filey", "fpw"))
	if fileUser == nil {
		t.Fatalf("password file user (unknown to the service) refused: %v", ack)
	}
	if rc := svcUser.subscribeTo(t, "svc/#"); rc != 1 {
		t.Errorf("service user subscribe svc/#: 0x%02x", rc)
	}
	if rc := svcUser.subscribeTo(t, "file/#"); rc != 0x87 {
		t.Errorf("service user subscribe file/#: 0x%02x", rc)
	}
	fileUser.subscribeTo(t, "#")
	svcUser.publishTo(t, "svc/a", "1")
	svcUser.publishTo(t, "ro", "2") // read only for svcuser
	fileUser.publishTo(t, "file/b", "3")
	fileUser.publishTo(t, "svc/c", "4") // the ACL file: read only for filey
	// Two publishers: no order between them.
	got := fileUser.received(time.Second)
	if slices.Sort(got); strings.Join(got, " ") != "file/b=3 svc/a=1" {
		t.Errorf("file user got %v", got)
	}
	if got := svcUser.received(500 * time.Millisecond); strings.Join(got, " ") != "svc/a=1" {
		t.Errorf("service user got %v", got)
	}

	// The service goes down: its users are refused, and what it has to
	// answer for is refused too (fail closed), each failure counted.
	down.Store(true)
	if conn, ack := dialWith(t, port, passwordConnect(packet.V5, "s3", "svcuser", "spw")); conn != nil || ack.ReasonCode != packet.NotAuthorized {
		t.Errorf("service down: %v", ack)
	}
	svcUser.publishTo(t, "svc/d", "5")
	if got := fileUser.received(time.Second); len(got) != 0 {
		t.Errorf("delivered while the service was down: %v", got)
	}
	if n := metric(t, aport, `midge_auth_checks_total{backend="http",result="error"}`); n < 2 {
		t.Errorf("http errors %v", n)
	}
	if n := metric(t, aport, `midge_auth_checks_total{backend="http",result="defer"}`); n < 1 {
		t.Errorf("http defers %v", n)
	}
	if !strings.Contains(log.String(), "HTTP authentication service") {
		t.Error("no log line for the failing service")
	}
}
