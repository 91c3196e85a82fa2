package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/creack/pty"

	"github.com/nefele/nefele/internal/testcluster"
)

// TestExecInATerminal runs `nefele exec -it` on a real pseudo-terminal, as a
// user at a shell would: the window size travels, a resize reaches the
// process as SIGWINCH with the new size, and ^C typed in raw mode reaches it
// as SIGINT through its own terminal.
func TestExecInATerminal(t *testing.T) {
	a := testcluster.StartAgent(t)
	master, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer master.Close()
	pty.Setsize(master, &pty.Winsize{Rows: 30, Cols: 100})
	cmd := exec.Command(testcluster.Binary(t), "exec", "-it", "--", "sh", "-c",
		`stty size; trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done`)
	cmd.Env = append(os.Environ(), "NEFELE_ADDR="+a.Addr)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	var mu sync.Mutex
	var out bytes.Buffer
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	seen := func(s string) func() bool {
		return func() bool { mu.Lock(); defer mu.Unlock(); return strings.Contains(out.String(), s) }
	}
	eventually(t, "the process sees the caller's window size 30x100", seen("30 100"))
	eventually(t, "the process is ready", seen("ready"))
	pty.Setsize(master, &pty.Winsize{Rows: 40, Cols: 120})
	eventually(t, "a resize reaches the process with the new size", seen("40 120"))
	master.Write([]byte{3}) // ^C, sent as a byte since the local terminal is raw
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 128+2 {
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("after ^C: exit code %d (%v), want 130; output %q", code, err, out.String())
	}
}
