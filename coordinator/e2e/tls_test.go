package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var serverTLSLine = regexp.MustCompile(`listening wire=\S+ admin=\S+ token_file=\S+ admin_tls=on`)

// testCA makes a CA and a certificate it signs for the loopback
// addresses, and writes ca.pem, cert.pem and key.pem into dir.
func testCA(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "hbctl test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("cert.pem", "CERTIFICATE", leafDER), write("key.pem", "EC PRIVATE KEY", keyDER)
}

// The coordinator's API and the server's admin API serve TLS with a
// certificate of a CA the test makes; the agent, the control commands and
// the coordinator (calling the admin API) trust it with --ca, and a run
// connects, loads, releases and verifies over it. Without the CA a
// control command is refused by certificate checking.
func TestTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end run of real processes")
	}
	tmp := t.TempDir()
	ca, cert, key := testCA(t, tmp)
	srvDir := filepath.Join(tmp, "srv")
	sp := start(t, "server", nil, "server", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--data-dir", srvDir,
		"--tls-cert", cert, "--tls-key", key)
	s := serverOf(t, sp, srvDir)
	s.admin = strings.Replace(s.admin, "http://", "https://", 1)
	sp.match(t, serverTLSLine, 5*time.Second)

	coordDir := filepath.Join(tmp, "coord")
	co := start(t, "coordinator", nil, "coordinator", "--listen", "127.0.0.1:0", "--time-udp", "127.0.0.1:0", "--data-dir", coordDir,
		"--tls-cert", cert, "--tls-key", key, "--ca", ca)
	m := co.match(t, coordLine, 15*time.Second)
	r := &runEnv{t: t, coordURL: "https://" + m[1], coordDir: coordDir}
	r.env = []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + coordDir, "HBCTL_CA=" + ca}

	// Without the CA, a control command does not trust the coordinator.
	if res := hb(t, []string{"HBCTL_COORDINATOR=" + r.coordURL, "HBCTL_COORDINATOR_DATA_DIR=" + coordDir}, "status"); res.code != 4 ||
		!strings.Contains(res.err, "certificate") {
		t.Fatalf("status without --ca: exit %d\n%s", res.code, res.err)
	}

	start(t, "agent", r.env, "agent", "--name", "h02", "--bind", "127.0.0.2", "--capacity", "200",
		"--data-dir", filepath.Join(tmp, "h02"), "--timeout", "2s")
	waitFor(t, 15*time.Second, "a live agent", func() bool {
		st := r.status()
		return len(st.Agents) == 1 && st.Agents[0].Alive
	})
	if res := r.hb("connect", "--server", s.wire, "--admin", s.admin, "--server-data-dir", s.dir, "--users", "50", "--wait", "--timeout", "30s"); res.code != 0 {
		t.Fatalf("connect: exit %d\n%s", res.code, res.err)
	}
	if res := r.hb("qps", "set", "100", "--at", "+1s"); res.code != 0 {
		t.Fatalf("qps set: exit %d: %s", res.code, res.err)
	}
	if res := r.hb("shake", "--rate", "100", "--total", "200"); res.code != 0 {
		t.Fatalf("shake over https: exit %d: %s", res.code, res.err)
	}
	waitFor(t, 30*time.Second, "grants and the server's counts over https", func() bool {
		st := r.status()
		return st.Run.Got > 10 && len(st.Servers) == 1 && st.Servers[0].Polled && st.Servers[0].Error == ""
	})
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(ca)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read CA: %v", err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	waitFor(t, 30*time.Second, "the release to finish", func() bool {
		req, _ := http.NewRequest("GET", s.admin+"/v1/stats", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var st struct {
			Releasing struct{ Shake bool } `json:"releasing"`
		}
		if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
			t.Fatal(err)
		}
		return !st.Releasing.Shake
	})
	res := r.hb("verify", "ledger", "--grace", "5s")
	if res.code != 0 {
		t.Fatalf("verify over https: exit %d\n%s\n%s", res.code, res.out, res.err)
	}
	t.Logf("verify ledger over https: exit 0")
}
