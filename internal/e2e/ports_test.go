package e2e

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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
    conn, _ = s.accept(); conn.sendall(os.environ["NEFELE_GPID"].encode() + b"\n"); conn.close()
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
		got := readAll(conn)
		if got != e.Gpid+"\n" || e.Service != "echo" || e.Port != "echo" {
			t.Fatalf("endpoint %+v answered %q", e, got)
		}
	}
	// Dial balances across the replicas.
	seen := map[string]int{}
	for range 6 {
		conn, err := c.Dial(ctx, "echo/echo")
		if err != nil {
			t.Fatalf("dial echo/echo: %v", err)
		}
		seen[readAll(conn)]++
	}
	if len(seen) != 2 {
		t.Fatalf("6 dials of echo/echo reached %v, want both replicas", seen)
	}
	if _, err := c.Dial(ctx, "echo/nope"); !errors.Is(err, nefele.ErrNoEndpoint) {
		t.Fatalf("dial of an unknown port: %v, want ErrNoEndpoint", err)
	}
	// nefele forward: a local port reaches the service.
	fwd := exec.Command(testcluster.Binary(t), "forward", "echo/echo", "0")
	fwd.Env = append(os.Environ(), nefele.EnvAddr+"="+a.Addr)
	var fout testcluster.SyncBuffer
	fwd.Stdout = &fout
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fwd.Process.Signal(syscall.SIGINT); fwd.Wait() }()
	eventually(t, "forward listens", func() bool { return strings.Contains(fout.String(), "forwarding ") })
	local := strings.Fields(fout.String())[1]
	conn, err := net.Dial("tcp", local)
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(conn); !strings.HasPrefix(got, "p") {
		t.Fatalf("through nefele forward %s: %q", local, got)
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
	for range 4 {
		conn, err := c.Dial(ctx, "echo/echo")
		if err != nil {
			t.Fatalf("dial with one replica dead: %v", err)
		}
		if got := readAll(conn); got != procs[1].Gpid+"\n" {
			t.Fatalf("dial with %s dead reached %q", procs[0].Gpid, got)
		}
	}
	eventually(t, "the restarted replica publishes its port again", func() bool {
		eps, _ = c.Ports(ctx, "echo")
		return len(eps) == 2
	})
	// The SDK's Listen takes the allocated port.
	spec := roleSpec("listen svc")
	spec.Ports = []string{"svc"}
	lis := spawn(t, c, nefele.SpawnOptions{Name: "lis"}, spec)[0]
	waitLog(t, c, lis.Gpid, "listening at 127.0.0.1:")
	eventually(t, "the Listen port is published", func() bool {
		eps, _ := c.Ports(ctx, "lis")
		return len(eps) == 1
	})
	conn, err = c.Dial(ctx, "lis/svc")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(conn); got != lis.Gpid+"\n" {
		t.Fatalf("dial lis/svc: %q, want %s", got, lis.Gpid)
	}
	if r := a.CLI(nil, "run", "--port", "Bad", "--", "true"); r.Code != 1 || !strings.Contains(r.Stderr, `invalid port name "Bad"`) {
		t.Fatalf("run --port Bad: code %d, err %q", r.Code, r.Stderr)
	}
}

// readAll reads conn to its end and closes it.
func readAll(conn net.Conn) string {
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(conn)
	return string(b)
}

// TestDialAfterReschedule: the one replica of a service dies with its node;
// the reconciler starts it on another node, which publishes its port, and
// Dial reaches it there.
func TestDialAfterReschedule(t *testing.T) {
	agents := testcluster.Start(t, 3)
	c := agents[0].Client()
	ctx := ctxT(t)
	spec := roleSpec("listen svc")
	spec.Ports = []string{"svc"}
	spec.Node = "n3"
	first := spawn(t, c, nefele.SpawnOptions{Name: "moving", Replicas: 1}, spec)[0]
	eventually(t, "the service's port is published", func() bool {
		eps, _ := c.Ports(ctx, "moving")
		return len(eps) == 1
	})
	conn, err := c.Dial(ctx, "moving/svc")
	if err != nil || readAll(conn) != first.Gpid+"\n" {
		t.Fatalf("dial before the crash: %v", err)
	}
	agents[2].Kill()
	killPid(int(first.Pid))
	var got string
	eventually(t, "Dial reaches the replacement on another node", func() bool {
		conn, err := c.Dial(ctx, "moving/svc")
		if err != nil {
			return false
		}
		got = readAll(conn)
		return got != "" && got != first.Gpid+"\n"
	})
	eps, _ := c.Ports(ctx, "moving")
	if len(eps) != 1 || eps[0].Node == "n3" || eps[0].Gpid+"\n" != got {
		t.Fatalf("endpoints after the reschedule: %v (dial reached %q)", eps, got)
	}
}

// TestForwardHTTP: nefele forward GROUP/PORT 0 picks a local port and
// carries a real client's requests to the group's replicas, here
// python3's http.server reached with curl.
func TestForwardHTTP(t *testing.T) {
	for _, tool := range []string{"python3", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s", tool)
		}
	}
	a := testcluster.StartAgent(t)
	c := a.Client()
	ctx := ctxT(t)
	dir := t.TempDir()
	const page = "served through nefele forward\n"
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := sh(`exec python3 -m http.server --bind 127.0.0.1 "$NEFELE_PORT_HTTP"`)
	spec.Ports, spec.Workdir = []string{"http"}, dir
	procs := spawn(t, c, nefele.SpawnOptions{Name: "web", Replicas: 2}, spec)
	eventually(t, "both replicas' ports are published", func() bool {
		eps, _ := c.Ports(ctx, "web")
		return len(eps) == 2
	})
	fwd := exec.Command(testcluster.Binary(t), "forward", "web/http", "0")
	fwd.Env = append(os.Environ(), nefele.EnvAddr+"="+a.Addr)
	var fout, ferr testcluster.SyncBuffer
	fwd.Stdout, fwd.Stderr = &fout, &ferr
	if err := fwd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { fwd.Process.Signal(syscall.SIGINT); fwd.Wait() }()
	eventually(t, "forward listens", func() bool { return strings.Contains(fout.String(), "forwarding ") })
	local := strings.Fields(fout.String())[1] // forwarding ADDR to web/http
	curl := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, "curl", append([]string{"-sS", "--max-time", "10"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %v: %v (forward said: %s%s)", args, err, fout.String(), ferr.String())
		}
		return string(out)
	}
	for range 4 {
		if got := curl("http://" + local + "/hello.txt"); got != page {
			t.Fatalf("curl http://%s/hello.txt: %q, want %q", local, got, page)
		}
	}
	for _, p := range procs { // forward dials the replicas in turn
		eventually(t, p.Gpid+" logs a request", func() bool { return strings.Contains(logsOfT(t, c, p.Gpid), "GET /hello.txt") })
	}
	if got := curl("-o", "/dev/null", "-w", "%{http_code}", "http://"+local+"/missing"); got != "404" {
		t.Fatalf("curl of a missing page through forward: status %s, want 404", got)
	}
}
