package sub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/midge-mqtt/midge/broker"
	"github.com/midge-mqtt/midge/internal/cli/pub"
	"github.com/midge-mqtt/midge/internal/config"
	"github.com/midge-mqtt/midge/internal/listener"
	"github.com/midge-mqtt/midge/internal/testpki"
	"github.com/midge-mqtt/midge/internal/testtool"
)

// testPKI is the certificate material of one TLS test, as PEM files that
// both Mosquitto (OpenSSL) and midge (crypto/tls) read: a CA, a server
// certificate for 127.0.0.1 only (so "localhost" is a wrong host name), a
// client certificate, and an unrelated CA for the wrong-CA cases.
type testPKI struct {
	caFile, otherCAFile       string
	serverCert, serverKey     string
	clientCert, clientKey     string
	strangerCert, strangerKey string // a client certificate of the other CA
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca := testpki.NewCA(t, "midge sub test CA")
	other := testpki.NewCA(t, "midge sub unrelated CA")
	server := ca.Issue("server", func(c *x509.Certificate) {
		c.Subject = pkix.Name{CommonName: "127.0.0.1"}
		c.DNSNames = nil
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	})
	clientOnly := func(c *x509.Certificate) {
		c.DNSNames, c.IPAddresses = nil, nil
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	client := ca.Issue("sub-client", clientOnly)
	stranger := other.Issue("stranger", clientOnly)
	return &testPKI{
		caFile: ca.File, otherCAFile: other.File,
		serverCert: server.CertFile, serverKey: server.KeyFile,
		clientCert: client.CertFile, clientKey: client.KeyFile,
		strangerCert: stranger.CertFile, strangerKey: stranger.KeyFile,
	}
}

// startMidgeTLS serves an in-process midge broker on a loopback TLS
// listener built by internal/listener from the same options a
// mosquitto.conf listener would carry, and returns its port.
func startMidgeTLS(t *testing.T, p *testPKI) string {
	t.Helper()
	h, warnings, err := listener.NewTLSHolder(&config.TLS{
		CAFile:             p.caFile,
		CertFile:           p.serverCert,
		KeyFile:            p.serverKey,
		RequireCertificate: true,
		TLSKeyform:         "pem",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Logf("TLS warnings: %q", warnings)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveMidge(t, tls.NewListener(ln, h.Config()), ln.Addr())
}

// serveMidge runs a broker with Mosquitto's defaults ($SYS off) on ln.
func serveMidge(t *testing.T, ln net.Listener, addr net.Addr) string {
	t.Helper()
	opts := broker.DefaultOptions()
	opts.SysInterval = 0
	srv := broker.New(opts)
	port := addr.(*net.TCPAddr).Port
	l := broker.DefaultListener(port)
	l.AllowAnonymous = true
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln, l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != broker.ErrServerClosed {
			t.Errorf("Serve: %v", err)
		}
	})
	return strconv.Itoa(port)
}

// startMosquittoConf runs a real broker with the given configuration
// (which must hold one listener on port) and waits for its "running" line.
func startMosquittoConf(t *testing.T, conf string) {
	t.Helper()
	testtool.Mosquitto(t, conf)
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// startMosquittoTLS runs a real mosquitto with a TLS listener equivalent
// to startMidgeTLS's and returns its port.
func startMosquittoTLS(t *testing.T, p *testPKI) string {
	t.Helper()
	port := freePort(t)
	startMosquittoConf(t, fmt.Sprintf("listener %s 127.0.0.1\ncafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\nallow_anonymous true\n",
		port, p.caFile, p.serverCert, p.serverKey))
	return port
}

// outcome is what a tool run leaves behind.
type outcome struct {
	code        int
	stdout, err string
}

func (o outcome) String() string {
	return fmt.Sprintf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.err)
}

func runTool(t *testing.T, name string, args ...string) outcome {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	code := 0
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return outcome{code, out.String(), errb.String()}
}

func runSub(args ...string) outcome {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, hermetic, nil)
	return outcome{code, out.String(), errb.String()}
}

func runPub(args ...string) outcome {
	var out, errb bytes.Buffer
	code := pub.Main(args, strings.NewReader(""), &out, &errb)
	return outcome{code, out.String(), errb.String()}
}

// tlsBrokers starts midge and, when installed, mosquitto with equivalent
// TLS listeners that require a client certificate.
func tlsBrokers(t *testing.T, p *testPKI) map[string]string {
	t.Helper()
	brokers := map[string]string{"midge": startMidgeTLS(t, p)}
	if _, err := exec.LookPath("mosquitto"); err == nil {
		brokers["mosquitto"] = startMosquittoTLS(t, p)
	} else if os.Getenv("CI") == "true" {
		t.Fatal("mosquitto is required in CI")
	}
	return brokers
}

// TestTLSRoundTrip publishes over TLS with a client certificate and reads
// the message back, with our tools and with mosquitto's, against a midge
// and a mosquitto TLS listener, in MQTT 3.1.1 and 5: every combination
// must work and the subscribers must print the same bytes.
func TestTLSRoundTrip(t *testing.T) {
	needTools(t, "mosquitto_pub", "mosquitto_sub")
	p := newTestPKI(t)
	for name, port := range tlsBrokers(t, p) {
		for _, v := range []string{"mqttv311", "5"} {
			for _, host := range []string{"127.0.0.1", "localhost --insecure"} {
				t.Run(name+" -V "+v+" -h "+host, func(t *testing.T) {
					tlsArgs := append(strings.Fields("-h "+host), "-p", port, "-V", v,
						"--cafile", p.caFile, "--cert", p.clientCert, "--key", p.clientKey)
					topic := "tls/" + name + "/" + v + "/" + host
					pubArgs := append(tlsArgs, "-t", topic, "-r", "-q", "1", "-m", "over tls",
						"-D", "publish", "user-property", "k", "v")
					if v != "5" {
						pubArgs = pubArgs[:len(pubArgs)-5]
					}
					if o := runPub(pubArgs...); o.code != 0 || o.stdout != "" || o.err != "" {
						t.Fatalf("midge pub: %v", o)
					}
					subArgs := append(tlsArgs, "-t", topic, "-C", "1", "-W", "5", "-F", "%t %q %r %l %p %P")
					want := runTool(t, "mosquitto_sub", subArgs...)
					if want.code != 0 || want.stdout == "" {
						t.Fatalf("mosquitto_sub: %v", want)
					}
					if got := runSub(subArgs...); got != want {
						t.Errorf("midge sub: %v\nmosquitto_sub: %v", got, want)
					}
					// And the other way round: mosquitto_pub's message read by
					// our sub.
					pubArgs[len(tlsArgs)+1] += "/m"
					subArgs[len(tlsArgs)+1] += "/m"
					if o := runTool(t, "mosquitto_pub", pubArgs...); o.code != 0 {
						t.Fatalf("mosquitto_pub: %v", o)
					}
					if got := runSub(subArgs...); got.code != 0 || strings.Replace(got.stdout, "/m ", " ", 1) != want.stdout {
						t.Errorf("midge sub after mosquitto_pub: %v, want stdout %q", got, want.stdout)
					}
				})
			}
		}
	}
}

// TestTLSFailuresMatchMosquitto makes TLS connections fail in the ways a
// user meets (no client certificate, a certificate of another CA, the
// wrong CA for the server, the wrong host name) and checks that our tools
// fail exactly like mosquitto_pub and mosquitto_sub against the same
// broker: same exit status and stderr.
//
// libmosquitto reports some failures in two ways depending on when the
// error surfaces (during the connect call or in the network loop), so the
// accepted outcomes are a set: the variants seen from mosquitto's tools,
// plus whatever they print in this run.
func TestTLSFailuresMatchMosquitto(t *testing.T) {
	needTools(t, "mosquitto_pub", "mosquitto_sub")
	p := newTestPKI(t)
	var (
		tlsError = outcome{8, "", "Error: A TLS error occurred.\n"}
		// mosquitto_pub only: the handshake failed inside mosquitto_connect.
		tlsUnable = outcome{1, "", "Unable to connect (A TLS error occurred.).\n"}
		lost      = outcome{7, "", "Error: The connection was lost.\n"}
		protocol  = outcome{1, "", "Error: Protocol error\n"}
	)
	cases := []struct {
		name  string
		args  func(port string) []string
		known []outcome
	}{
		{"no client certificate", func(port string) []string {
			return []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.caFile}
		}, []outcome{lost, protocol}},
		{"client certificate of another CA", func(port string) []string {
			return []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.caFile, "--cert", p.strangerCert, "--key", p.strangerKey}
		}, []outcome{lost, protocol}},
		{"wrong CA for the server", func(port string) []string {
			return []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.otherCAFile, "--cert", p.clientCert, "--key", p.clientKey}
		}, []outcome{tlsError, tlsUnable}},
		// A leaf certificate is no trust anchor for OpenSSL, even the
		// server's own: the handshake fails.
		{"server certificate as CA file", func(port string) []string {
			return []string{"-h", "127.0.0.1", "-p", port, "--cafile", p.serverCert, "--cert", p.clientCert, "--key", p.clientKey}
		}, []outcome{tlsError, tlsUnable}},
		{"wrong host name", func(port string) []string {
			return []string{"-h", "localhost", "-p", port, "--cafile", p.caFile, "--cert", p.clientCert, "--key", p.clientKey}
		}, []outcome{tlsError, tlsUnable}},
		{"wrong host name -V 5", func(port string) []string {
			return []string{"-h", "localhost", "-V", "5", "-p", port, "--cafile", p.caFile, "--cert", p.clientCert, "--key", p.clientKey}
		}, []outcome{tlsError, tlsUnable}},
	}
	for name, port := range tlsBrokers(t, p) {
		for _, tc := range cases {
			for _, tool := range []string{"pub", "sub"} {
				t.Run(name+"/"+tc.name+"/"+tool, func(t *testing.T) {
					var args []string
					var want, got outcome
					if tool == "pub" {
						args = append(tc.args(port), "-t", "tls/fail", "-m", "x")
						want, got = runTool(t, "mosquitto_pub", args...), runPub(args...)
					} else {
						args = append(tc.args(port), "-t", "tls/fail", "-C", "1", "-W", "5")
						want, got = runTool(t, "mosquitto_sub", args...), runSub(args...)
					}
					ok := got == want
					for _, k := range tc.known {
						ok = ok || got == k
					}
					if !ok {
						t.Errorf("midge %s: %v\nmosquitto_%s: %v", tool, got, tool, want)
					}
				})
			}
		}
	}
}
