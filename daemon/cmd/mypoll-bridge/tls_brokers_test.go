//go:build brokers

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mypoll/mypoll/internal/brokertest"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, as PEM files in dir.
type testPKI struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func makePKI(t *testing.T, dir string) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	writeKey := func(name string, k *ecdsa.PrivateKey) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name, "PRIVATE KEY", der)
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mypoll test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, k *ecdsa.PrivateKey) []byte {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	sk, ck := key(), key()
	return testPKI{
		ca:         write("ca.pem", "CERTIFICATE", caDER),
		serverCert: write("server.pem", "CERTIFICATE", leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, sk)),
		serverKey:  writeKey("server.key", sk),
		clientCert: write("client.pem", "CERTIFICATE", leaf(3, "board", x509.ExtKeyUsageClientAuth, ck)),
		clientKey:  writeKey("client.key", ck),
	}
}

// TLS with a CA and a client certificate made by the test: mosquitto
// requires the certificate; the bridge is given only a tcp:// URL and the
// files, and delivers everything.
func TestBridge_TLSClientCert(t *testing.T) {
	pki := makePKI(t, t.TempDir())
	m := brokertest.StartMosquitto(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true\n",
		pki.ca, pki.serverCert, pki.serverKey))
	// A plain client is refused (the listener speaks TLS only).
	plain := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(m.URL()).SetClientID("plain").SetConnectTimeout(2 * time.Second))
	if tok := plain.Connect(); tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
		plain.Disconnect(0)
		t.Fatal("plain MQTT connect to the TLS listener succeeded")
	}
	cert, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(pki.ca)
	pool.AppendCertsFromPEM(caPEM)
	sslURL := fmt.Sprintf("ssl://127.0.0.1:%d", m.Port)
	c := brokertest.NewConsumerTLS(t, &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, sslURL)
	d := startDaemon(t)
	b := startBridge(t, d, "dev-tls", []string{m.URL()},
		"--ca-file", pki.ca, "--cert-file", pki.clientCert, "--key-file", pki.clientKey)
	c.WaitStatus("dev-tls", `"online":true`)
	last := d.trigger(2000)
	inst, lost := c.WaitCovered("dev-tls", 1, last)
	checkNoBridgeLoss(t, c, "dev-tls", inst, lost, last)
	b.stop()
	c.WaitStatus("dev-tls", `{"online":false}`)
	c.CheckWellFormed()
}
