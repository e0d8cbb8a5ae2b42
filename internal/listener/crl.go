package listener

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"
)

// loadCRLs reads every CRL in file, PEM ("X509 CRL" blocks) or a single
// DER CRL, as OpenSSL's X509_STORE_load_locations accepts.
func loadCRLs(file string) ([]*x509.RevocationList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("crlfile %s: %w", file, err)
	}
	var crls []*x509.RevocationList
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			continue
		}
		crl, err := x509.ParseRevocationList(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("crlfile %s: %w", file, err)
		}
		crls = append(crls, crl)
	}
	if len(crls) == 0 {
		crl, err := x509.ParseRevocationList(data)
		if err != nil {
			return nil, fmt.Errorf("crlfile %s: no CRL found: %w", file, err)
		}
		crls = append(crls, crl)
	}
	return crls, nil
}

// checkRevocation rejects a client whose certificate a CRL revokes; chains
// are the verified chains of its certificate. It follows OpenSSL's
// X509_V_FLAG_CRL_CHECK, which Mosquitto sets with crlfile: only the
// client's own certificate is checked (not the intermediates), and a CRL
// from its issuer must be present and current, otherwise the client is
// refused ("unable to get certificate CRL", "CRL has expired") rather than
// let through unchecked.
func checkRevocation(chains [][]*x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	if len(chains) == 0 {
		return errors.New("client certificate was not verified")
	}
	var lastErr error
	for _, chain := range chains {
		leaf, issuer := chain[0], chain[0]
		if len(chain) > 1 {
			issuer = chain[1]
		}
		err := checkLeaf(leaf, issuer, crls, now)
		if err == nil || errors.Is(err, errRevoked) {
			return err
		}
		lastErr = err
	}
	return lastErr
}

var errRevoked = errors.New("client certificate is revoked")

func checkLeaf(leaf, issuer *x509.Certificate, crls []*x509.RevocationList, now time.Time) error {
	found := false
	for _, crl := range crls {
		if !bytes.Equal(crl.RawIssuer, leaf.RawIssuer) || crl.CheckSignatureFrom(issuer) != nil {
			continue
		}
		if now.Before(crl.ThisUpdate) {
			return fmt.Errorf("CRL of %s is not yet valid", issuer.Subject)
		}
		if !crl.NextUpdate.IsZero() && now.After(crl.NextUpdate) {
			return fmt.Errorf("CRL of %s has expired", issuer.Subject)
		}
		found = true
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(leaf.SerialNumber) == 0 {
				return fmt.Errorf("%w (serial %s)", errRevoked, leaf.SerialNumber)
			}
		}
	}
	if !found {
		return fmt.Errorf("no CRL from %s in crlfile", issuer.Subject)
	}
	return nil
}
