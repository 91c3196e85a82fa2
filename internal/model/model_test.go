package model

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestGPIDRoundTrip(t *testing.T) {
	for _, n := range []uint64{1, 2, 31, 32, 33, 1023, 1024, 1 << 40, 1<<64 - 1} {
		g := FormatGPID(n)
		got, err := ParseGPID(string(g))
		if err != nil || got != n {
			t.Fatalf("ParseGPID(FormatGPID(%d) = %s) = %d, %v", n, g, got, err)
		}
	}
	if FormatGPID(1) != "p1" || FormatGPID(1042) != "p1042" {
		t.Fatalf("FormatGPID(1), (1042) = %s, %s", FormatGPID(1), FormatGPID(1042))
	}
}

func TestParseGPIDRejects(t *testing.T) {
	for _, s := range []string{"", "p", "p0", "p01", "x1", "pl", "pa", "P1", "p-1", "p+1", "web", "p1k", "p99999999999999999999999"} {
		if _, err := ParseGPID(s); err == nil {
			t.Errorf("ParseGPID(%q) accepted", s)
		}
	}
}

func FuzzParseGPID(f *testing.F) {
	for _, s := range []string{"p1", "p42", "p0", "", "web"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseGPID(s)
		if err == nil && string(FormatGPID(n)) != s {
			t.Fatalf("%q parsed to %d, which formats as %s", s, n, FormatGPID(n))
		}
	})
}

func TestBackoff(t *testing.T) {
	b := DefaultBackoff
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := b.Delay(i + 1); got != w {
			t.Errorf("Delay(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := b.Next(5, 10*time.Minute); got != 1 {
		t.Errorf("after a 10 min run the crash count is %d, want reset to 1", got)
	}
	if got := b.Next(5, 9*time.Minute); got != 6 {
		t.Errorf("after a 9 min run the crash count is %d, want 6", got)
	}
}

func TestShouldRestart(t *testing.T) {
	ok, bad, sig := &ExitStatus{Code: 0}, &ExitStatus{Code: 2}, &ExitStatus{Code: -1, Signal: "KILL"}
	cases := []struct {
		p    RestartPolicy
		exit *ExitStatus
		want bool
	}{
		{RestartNever, bad, false}, {RestartNever, ok, false},
		{RestartOnFailure, ok, false}, {RestartOnFailure, bad, true}, {RestartOnFailure, sig, true}, {RestartOnFailure, nil, true},
		{RestartAlways, ok, true}, {RestartAlways, nil, true},
	}
	for _, c := range cases {
		if got := c.p.ShouldRestart(c.exit); got != c.want {
			t.Errorf("%s.ShouldRestart(%v) = %v", c.p, c.exit, got)
		}
	}
}

func TestShellStatus(t *testing.T) {
	if s := (ExitStatus{Code: 3}).ShellStatus(); s != 3 {
		t.Errorf("code 3: %d", s)
	}
	if s := (ExitStatus{Code: -1, Signal: "TERM"}).ShellStatus(); s != 143 {
		t.Errorf("TERM: %d, want 143", s)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "sigkill": syscall.SIGKILL, "SIGHUP": syscall.SIGHUP, "9": syscall.SIGKILL} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v", in, got, err)
		}
	}
	_, err := ParseSignal("NOPE")
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "TERM") || !strings.Contains(err.Error(), `"NOPE"`) {
		t.Errorf("bad signal error %v: want ErrInvalid naming it and listing valid ones", err)
	}
}

func FuzzParseSignal(f *testing.F) {
	f.Add("TERM")
	f.Add("99")
	f.Fuzz(func(t *testing.T, s string) {
		sig, err := ParseSignal(s)
		if err == nil {
			if _, err := ParseSignal(SignalName(sig)); err != nil {
				t.Fatalf("%q parsed to %v, whose name does not parse", s, sig)
			}
		}
	})
}

func TestSpecValidate(t *testing.T) {
	s := Spec{Command: []string{"sleep", "1"}}
	if err := s.Validate(false); err != nil || s.Restart != RestartNever || s.StopSignal != "TERM" || s.StopTimeout != DefaultStopTimeout {
		t.Fatalf("defaults of a single process: %+v %v", s, err)
	}
	g := Spec{Command: []string{"x"}}
	if g.Validate(true); g.Restart != RestartAlways {
		t.Fatalf("a group's default restart policy is %q, want always", g.Restart)
	}
	bad := []Spec{
		{},
		{Command: []string{""}},
		{Command: []string{"x"}, Env: []string{"NOEQUALS"}},
		{Command: []string{"x"}, Env: []string{"=v"}},
		{Command: []string{"x"}, Restart: "sometimes"},
		{Command: []string{"x"}, MaxRestarts: -1},
		{Command: []string{"x"}, StopSignal: "NOPE"},
		{Command: []string{"x"}, StopTimeout: -time.Second},
	}
	for _, b := range bad {
		if err := b.Validate(false); !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalid", b, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, n := range []string{"web", "a", "my-app.v2", "x_1", "postgres", "payments", "pay", "p1a", "p"} {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q) = %v", n, err)
		}
	}
	for _, n := range []string{"", "Web", "-a", "a-", "has space", "p1", "p42", strings.Repeat("a", 64)} {
		if err := ValidateName(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("ValidateName(%q) accepted", n)
		}
	}
}
