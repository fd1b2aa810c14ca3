package testenv_test

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/handoff-health/handoff/shared/testenv"
)

// TestMain serves HTTP on $TESTENV_SERVE_PORT when it is set: the test
// binary is then the server process StartServerOnFreePort starts.
func TestMain(m *testing.M) {
	if port := os.Getenv("TESTENV_SERVE_PORT"); port != "" {
		_ = http.ListenAndServe("127.0.0.1:"+port, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// TestFreePortIsBelowTheEphemeralRange: no port the kernel hands out (to a
// listener on port 0 or an outgoing connection) can take FreePort's.
func TestFreePortIsBelowTheEphemeralRange(t *testing.T) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			low, _ = strconv.Atoi(f[0])
		}
	}
	if low < 21000 {
		t.Skipf("the ephemeral range starts at %d: FreePort asks the kernel", low)
	}
	for range 20 {
		if p := testenv.FreePort(t); p < 20000 || p >= low {
			t.Fatalf("FreePort gave %d, want one in [20000, %d)", p, low)
		}
	}
}

// TestStartServerOnFreePortStartsAgain: a server whose port was taken
// between FreePort and its start (here: the first start, on a port the
// test holds) ends at once; it is started again on another port.
func TestStartServerOnFreePortStartsAgain(t *testing.T) {
	var held net.Listener
	var ports []int
	got := testenv.StartServerOnFreePort(t, "the test server", 30*time.Second, func(status int) bool { return status == http.StatusOK },
		func(port int) (*exec.Cmd, string) {
			if held == nil {
				l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
				if err != nil {
					t.Fatal(err)
				}
				held = l
				t.Cleanup(func() { l.Close() })
				// Another server, not the one asked for: the health check
				// does not take its answer and sees the process end.
				go func() {
					_ = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
				}()
			}
			ports = append(ports, port)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "TESTENV_SERVE_PORT="+strconv.Itoa(port))
			return cmd, "http://127.0.0.1:" + strconv.Itoa(port) + "/"
		})
	if len(ports) != 2 || got != ports[1] || ports[0] == ports[1] {
		t.Fatalf("started on %v, got %d: want a second start on another port", ports, got)
	}
}
