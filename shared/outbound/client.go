package outbound

import (
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Client returns an HTTP client for a clinic's endpoints: its dialer
// refuses, by CheckAddr, every address it would connect to (the address
// actually dialled, after DNS), it uses no proxy and follows no redirect,
// and a request gives up after timeout. allowLoopback lets a local stack
// reach a receiver on the same machine.
func Client(allowLoopback bool, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		return CheckAddr(ap.Addr(), allowLoopback)
	}}
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{DialContext: d.DialContext, Proxy: nil, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
