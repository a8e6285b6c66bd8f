package pbx

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/pbxgate/pbxgate/gateway/config"
	"github.com/pbxgate/pbxgate/gateway/session"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 (usable as its
// own root) and returns the cert and key file paths.
func selfSigned(t *testing.T, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Over TLS (peer mode) the gateway delivers chats to the PBX and takes
// MESSAGEs from it; both sides verify certificates.
func TestTLSPeer(t *testing.T) {
	t.Parallel()
	gwCert, gwKey := selfSigned(t, "pbxgate")
	pbxCert, pbxKey := selfSigned(t, "pbx")

	// The "PBX": a sipgo server over TLS that takes MESSAGEs.
	pair, err := tls.LoadX509KeyPair(pbxCert, pbxKey)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(gwCert)
	roots.AppendCertsFromPEM(pemBytes)
	ua, _ := sipgo.NewUA(sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}))
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger()))
	client, _ := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(testLogger()))
	got := make(chan string, 10)
	srv.OnMessage(func(req *sip.Request, tx sip.ServerTransaction) {
		got <- req.From().Address.User + "|" + req.Recipient.User + "|" + string(req.Body())
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.ServeTLS(ln) }()
	t.Cleanup(func() { ln.Close(); <-served; client.Close(); srv.Close() })

	g := runGateway(t, config.SIP{Enabled: true, Mode: "peer", Transport: "tls", Listen: "127.0.0.1:0", Domain: "pbxgate.test",
		PeerAddress: ln.Addr().String(), AllowFrom: []string{"127.0.0.1"}, TLSCert: gwCert, TLSKey: gwKey, TLSCA: pbxCert, MaxBodyBytes: 1000})
	f := &fromExt{got: make(chan string, 1)}
	g.SetSessions(f)

	long := strings.Repeat("sicher ", 300)
	if err := g.DeliverChat(context.Background(), "201", session.Chat{Contact: customer, Text: long}); err != nil {
		t.Fatal(err)
	}
	var parts []string
	for {
		select {
		case m := <-got:
			parts = append(parts, m)
		case <-time.After(10 * time.Second):
			t.Fatal("no MESSAGE over TLS")
		}
		if len(parts) == 3 { // 2,100 bytes at 1,000 per part
			break
		}
	}
	if !strings.HasPrefix(parts[0], customer+"|201|(1/3) sicher") {
		t.Fatalf("PBX got %q", parts[0])
	}

	gw := g.Addr()
	req := sip.NewRequest(sip.MESSAGE, sip.Uri{Scheme: "sip", User: customer, Host: "127.0.0.1", Port: int(gw.Port())})
	req.SetTransport("TLS")
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "202", Host: "127.0.0.1"}, Params: tagParams()})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: customer, Host: "127.0.0.1"}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "text/plain"))
	req.SetBody([]byte("Antwort über TLS"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := client.Do(ctx, req)
	if err != nil || res.StatusCode != 202 {
		t.Fatalf("MESSAGE to the gateway over TLS: %s", codeOf(res, err))
	}
	if m := <-f.got; m != "202|"+customer+"|Antwort über TLS" {
		t.Fatalf("sessions got %q", m)
	}
}
