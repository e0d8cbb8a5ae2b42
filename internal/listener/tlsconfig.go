package listener

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/midge-mqtt/midge/internal/config"
)

// ErrPSKUnsupported is returned for a listener with psk_hint: Go's
// crypto/tls has no TLS-PSK, and listening without it would either refuse
// every PSK client or, worse, accept them unauthenticated.
var ErrPSKUnsupported = errors.New("TLS-PSK (psk_hint/psk_file) is not supported by midge: Go's crypto/tls has no pre-shared-key cipher suites; use certificates instead")

// tlsVersion maps Mosquitto's tls_version, which is a minimum since 2.0.
func tlsVersion(v string) (uint16, error) {
	switch v {
	case "", "tlsv1.2":
		return tls.VersionTLS12, nil
	case "tlsv1.3":
		return tls.VersionTLS13, nil
	case "tlsv1.1":
		return tls.VersionTLS11, nil
	}
	return 0, fmt.Errorf("tls_version %q: want tlsv1.1, tlsv1.2 or tlsv1.3", v)
}

// checkTLSOptions refuses what cannot be provided and returns warnings for
// what is accepted but has no effect. It reads no files.
func checkTLSOptions(t *config.TLS) ([]string, error) {
	var warnings []string
	if t.PSKHint != "" {
		return nil, ErrPSKUnsupported
	}
	if t.TLSKeyform == "engine" || t.TLSEngine != "" || t.TLSEngineKpassSHA1 != "" {
		return nil, errors.New("tls_engine and tls_keyform engine are not supported by midge: keys must be PEM files")
	}
	if t.UseIdentityAsUsername && t.UseSubjectAsUsername {
		return nil, errors.New("use_identity_as_username and use_subject_as_username cannot both be set")
	}
	if (t.UseIdentityAsUsername || t.UseSubjectAsUsername) && !t.RequireCertificate {
		// Mosquitto 2.0 starts like this and then refuses every client as
		// "bad username or password", because no certificate is requested.
		warnings = append(warnings, "use_identity_as_username/use_subject_as_username without require_certificate: no client certificate is requested, so every client will be refused")
	}
	if t.DisableClientCertDateChecks {
		warnings = append(warnings, "disable_client_cert_date_checks is not supported: client certificate dates are still checked")
	}
	if t.CRLFile != "" && !t.RequireCertificate {
		warnings = append(warnings, "crlfile has no effect without require_certificate: no client certificate is requested")
	}
	return warnings, nil
}

// buildTLSConfig reads the certificate, key, CA and CRL files and returns
// the tls.Config one handshake uses, plus warnings about options Go cannot
// honour. Every file error names the file.
func buildTLSConfig(t *config.TLS) (*tls.Config, []string, error) {
	warnings, err := checkTLSOptions(t)
	if err != nil {
		return nil, nil, err
	}
	minVersion, err := tlsVersion(t.TLSVersion)
	if err != nil {
		return nil, nil, err
	}
	cert, err := loadKeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, nil, err
	}
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   minVersion,
		// Mosquitto without require_certificate does not ask for a client
		// certificate at all (SSL_VERIFY_NONE), so neither do we.
		ClientAuth: tls.NoClientCert,
	}
	if t.Ciphers != "" {
		suites, w, err := parseCiphers(t.Ciphers)
		if err != nil {
			return nil, nil, err
		}
		cfg.CipherSuites = suites
		warnings = append(warnings, w...)
	}
	w, err := checkCiphers13(t.Ciphers13)
	if err != nil {
		return nil, nil, err
	}
	if w != "" {
		warnings = append(warnings, w)
	}
	if t.DHParamFile != "" {
		// Mosquitto refuses to start when it cannot read the file; keep that
		// check so a config that works here works there.
		if _, err := os.ReadFile(t.DHParamFile); err != nil {
			return nil, nil, fmt.Errorf("dhparamfile %s: %w", t.DHParamFile, err)
		}
		warnings = append(warnings, "dhparamfile is ignored: Go's TLS has no finite-field DHE cipher suites (ECDHE is used)")
	}

	cas, err := loadCAs(t.CAFile, t.CAPath)
	if err != nil {
		return nil, nil, err
	}
	// Mosquitto loads cafile/capath into the one OpenSSL store that both
	// builds the chain the server sends and verifies clients, so the CA
	// files complete the chain even without require_certificate.
	if err := completeChain(&cfg.Certificates[0], cas); err != nil {
		return nil, nil, fmt.Errorf("certfile %s: %w", t.CertFile, err)
	}
	if t.RequireCertificate {
		if len(cas) == 0 {
			return nil, nil, errors.New("require_certificate needs cafile or capath to verify client certificates")
		}
		var crls []*x509.RevocationList
		if t.CRLFile != "" {
			if crls, err = loadCRLs(t.CRLFile); err != nil {
				return nil, nil, err
			}
		}
		trust := newClientTrust(cas, crls)
		if !trust.hasAnchor() {
			// Mosquitto starts like this and refuses every client
			// certificate ("certificate verify failed").
			warnings = append(warnings, "require_certificate: cafile/capath hold no self-signed (root) CA certificate, so no client certificate can be verified; add the root of the clients' chain")
		}
		// crypto/tls's own check, with every CA certificate as an anchor,
		// fills VerifiedChains; trust.verify then applies OpenSSL's rules
		// (see clientTrust).
		pool := x509.NewCertPool()
		for _, ca := range cas {
			pool.AddCert(ca)
		}
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.ClientCAs = pool
		cfg.VerifyConnection = trust.verify
	} else if t.CRLFile != "" {
		// Still parse it, so a broken file is found now and not when
		// require_certificate is switched on.
		if _, err := loadCRLs(t.CRLFile); err != nil {
			return nil, nil, err
		}
	}
	return cfg, warnings, nil
}

// loadKeyPair reads a PEM certificate (chain) and key, refusing encrypted
// keys with a message that says so: Mosquitto would prompt on the terminal
// for a passphrase, which a service cannot answer.
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certfile %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("keyfile %s: %w", keyFile, err)
	}
	for rest := keyPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] == "4,ENCRYPTED" {
			return tls.Certificate{}, fmt.Errorf("keyfile %s: the private key is encrypted with a passphrase, which midge cannot use; decrypt it (e.g. openssl pkey -in %s -out plain.key)", keyFile, keyFile)
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("certfile %s / keyfile %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// loadCAs reads the CA certificates that client certificates are verified
// against and the server's chain is completed from, or none when neither
// cafile nor capath is set.
//
// capath: OpenSSL looks certificates up in a directory by subject hash
// (files named like 9d66eef0.0, made by c_rehash). Rather than require that
// layout, every regular file in the directory (not its subdirectories) that
// holds PEM certificates is loaded, which covers hashed directories as well
// as plain *.pem/*.crt collections. Files without a certificate (CRLs,
// READMEs) are skipped; a certificate block that does not parse is an error.
func loadCAs(caFile, caPath string) ([]*x509.Certificate, error) {
	var cas []*x509.Certificate
	if caFile != "" {
		certs, err := readPEMCerts(caFile)
		if err != nil {
			return nil, fmt.Errorf("cafile %s: %w", caFile, err)
		}
		cas = append(cas, certs...)
		if len(certs) == 0 {
			return nil, fmt.Errorf("cafile %s: no PEM certificate found", caFile)
		}
	}
	if caPath != "" {
		entries, err := os.ReadDir(caPath)
		if err != nil {
			return nil, fmt.Errorf("capath %s: %w", caPath, err)
		}
		total := 0
		for _, e := range entries {
			if !e.Type().IsRegular() && e.Type()&os.ModeSymlink == 0 {
				continue
			}
			p := filepath.Join(caPath, e.Name())
			if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
				continue
			}
			certs, err := readPEMCerts(p)
			if err != nil {
				return nil, fmt.Errorf("capath %s: %w", p, err)
			}
			cas = append(cas, certs...)
			total += len(certs)
		}
		if total == 0 {
			return nil, fmt.Errorf("capath %s: no PEM certificate found in the directory", caPath)
		}
	}
	return cas, nil
}

// readPEMCerts parses every CERTIFICATE block of file.
func readPEMCerts(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certs, nil
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
}
