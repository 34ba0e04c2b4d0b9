package httpserve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// ServerTLS loads a certificate and its key (PEM files) for a server.
// Both or neither must be given; neither returns nil (plain HTTP).
func ServerTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("give both a TLS certificate and its key, or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// Listen wraps ln in TLS when cfg is not nil, after the counting of
// Listener, so deadline closes during handshakes count too.
func Listen(ln net.Listener, c *Counters, cfg *tls.Config) net.Listener {
	ln = Listener(ln, c)
	if cfg != nil {
		ln = tls.NewListener(ln, cfg)
	}
	return ln
}

// ClientTLS is the TLS configuration of a client that trusts the CA
// certificates in caFile (PEM) besides the system's; "" returns nil (the
// system's roots only).
func ClientTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// Client is an HTTP client with timeout that trusts caFile besides the
// system's roots ("" for the system's only).
func Client(caFile string, timeout time.Duration) (*http.Client, error) {
	cfg, err := ClientTLS(caFile)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
