package outbound

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Transport errors as the HTTP client returns them: each is described in
// words a customer can act on, naming no address of ours (the resolver asked,
// the worker's own end of a connection) and not the URL.
func TestDescribe_SaysWhatWentWrongWithoutInternalAddresses(t *testing.T) {
	worker := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("10.0.0.5:51234"))
	receiver := net.TCPAddrFromAddrPort(netip.MustParseAddrPort("93.184.215.14:443"))
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://hooks.example.com/x?token=secret", Err: err}
	}
	dial := func(err error) error { return wrap(&net.OpError{Op: "dial", Net: "tcp", Addr: receiver, Err: err}) }
	cases := []struct {
		err  error
		want string
	}{
		{dial(&net.DNSError{Err: "no such host", Name: "hooks.example.com", Server: "10.255.255.53:53", IsNotFound: true}), "the host does not resolve"},
		{dial(&net.DNSError{Err: "server misbehaving", Name: "hooks.example.com", Server: "10.255.255.53:53"}), "the host does not resolve"},
		{dial(&net.DNSError{Err: "i/o timeout", Name: "hooks.example.com", Server: "10.255.255.53:53", IsTimeout: true}), "could not be looked up in time"},
		{dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), "connection refused"},
		{wrap(&net.OpError{Op: "read", Net: "tcp", Source: worker, Addr: receiver, Err: os.NewSyscallError("read", syscall.ECONNRESET)}), "reset the connection"},
		{dial(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), "unreachable"},
		{wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), "certificate is not valid"},
		{wrap(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), "did not answer with TLS"},
		{wrap(io.EOF), "closed the connection without an answer"},
		{wrap(&net.OpError{Op: "write", Net: "tcp", Source: worker, Addr: receiver, Err: os.NewSyscallError("write", syscall.EBADF)}), "connection failed"},
		{dial(ErrForbiddenTarget), "not allowed"},
	}
	for _, c := range cases {
		got := describe(c.err, 10*time.Second).Error()
		if !strings.Contains(got, c.want) {
			t.Errorf("describe(%v) = %q, want it to say %q", c.err, got, c.want)
		}
		for _, leak := range []string{"10.255.255.53", "10.0.0.5", "token=secret", "51234"} {
			if strings.Contains(got, leak) {
				t.Errorf("describe(%v) = %q names %s", c.err, got, leak)
			}
		}
	}
	if got := describe(wrap(errors.New("something else")), time.Second); got.Error() != "something else" {
		t.Errorf("an unknown error: %q", got)
	}
}
