package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nefele/nefele/internal/testcluster"
	nefele "github.com/nefele/nefele/sdk"
)

// TestNamedPorts: a named port is allocated, given in NEFELE_PORT_<NAME>,
// published once it accepts connections, and gone with its process's run.
func TestNamedPorts(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("needs python3 (for a TCP listener)")
	}
	a := testcluster.StartAgent(t)
	c := a.Client()
	ctx := ctxT(t)
	// A listener that opens its port a second after it starts.
	listen := `import os, socket, time
time.sleep(1)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(os.environ["NEFELE_PORT_ECHO"]))); s.listen()
print("listening", flush=True)
while True:
    conn, _ = s.accept(); conn.sendall(b"hi\n"); conn.close()
`
	procs := spawn(t, c, nefele.SpawnOptions{Name: "echo", Replicas: 2},
		&nefele.Spec{Command: []string{"python3", "-c", listen}, Ports: []string{"echo"}})
	if eps, err := c.Ports(ctx, "echo"); err != nil || len(eps) != 0 {
		t.Fatalf("ports before the processes listen: %v %v, want none", eps, err)
	}
	var eps []*nefele.Endpoint
	eventually(t, "both replicas' ports are published", func() bool {
		eps, _ = c.Ports(ctx, "echo")
		return len(eps) == 2
	})
	for _, e := range eps {
		conn, err := net.DialTimeout("tcp", e.Address, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %s of %s: %v", e.Address, e.Gpid, err)
		}
		buf := make([]byte, 3)
		conn.Read(buf)
		conn.Close()
		if string(buf) != "hi\n" || e.Service != "echo" || e.Port != "echo" {
			t.Fatalf("endpoint %+v answered %q", e, buf)
		}
	}
	r := a.CLI(nil, "ports")
	if !strings.Contains(r.Stdout, "echo") || strings.Count(r.Stdout, "127.0.0.1:") != 2 {
		t.Fatalf("nefele ports:\n%s%s", r.Stdout, r.Stderr)
	}
	// A killed replica's endpoint goes; its restart publishes a new one.
	c.Signal(ctx, procs[0].Gpid, "KILL")
	eventually(t, "the killed replica's endpoint goes", func() bool {
		eps, _ = c.Ports(ctx, "echo")
		return len(eps) == 1 && eps[0].Gpid == procs[1].Gpid
	})
	eventually(t, "the restarted replica publishes its port again", func() bool {
		eps, _ = c.Ports(ctx, "echo")
		return len(eps) == 2
	})
	if r := a.CLI(nil, "run", "--port", "Bad", "--", "true"); r.Code != 1 || !strings.Contains(r.Stderr, `invalid port name "Bad"`) {
		t.Fatalf("run --port Bad: code %d, err %q", r.Code, r.Stderr)
	}
}
