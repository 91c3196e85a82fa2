package supervisor

import (
	"context"
	"os/exec"
	"sort"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/nefele/nefele/internal/isolate"
	"github.com/nefele/nefele/internal/model"
)

// newTestSupervisor returns a supervisor whose recorder keeps nothing.
func newTestSupervisor(tb testing.TB, cgroups *isolate.Tracker) *Supervisor {
	s, err := New(Config{Node: "test", LogDir: tb.TempDir(), Cgroups: cgroups,
		Record: func(context.Context, model.State, model.Process) error { return nil }})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestStartWaitsForRunningAndReportsExit(t *testing.T) {
	s := newTestSupervisor(t, nil)
	rec, err := s.Start(context.Background(), model.Process{GPID: "p1",
		Spec: model.Spec{Command: []string{"sh", "-c", "exit 4"}, Restart: model.RestartNever}})
	if err != nil || rec.State != model.StateRunning || rec.PID == 0 {
		t.Fatalf("start: %+v %v", rec, err)
	}
	<-s.Done("p1")
}

// BenchmarkSpawn measures the supervisor's own start-to-exit cost of
// /bin/true, without etcd, beside plain os/exec in the same run, and with
// and without a cgroup per process.
func BenchmarkSpawn(b *testing.B) {
	const n = 200
	plain := sample(n, func() { exec.Command("/bin/true").Run() })
	for _, withCgroup := range []bool{false, true} {
		name := "no-cgroup"
		var tr *isolate.Tracker
		if withCgroup {
			name = "cgroup"
			var err error
			if tr, err = isolate.NewTracker("nefele-bench-" + time.Now().Format("150405.000000")); err != nil {
				b.Logf("no cgroup v2: %v", err)
				continue
			}
		}
		b.Run(name, func(b *testing.B) {
			s := newTestSupervisor(b, tr)
			i := 0
			got := sample(n, func() {
				i++
				g := model.FormatGPID(uint64(i))
				if _, err := s.Start(context.Background(), model.Process{GPID: g,
					Spec: model.Spec{Command: []string{"/bin/true"}, Restart: model.RestartNever}}); err != nil {
					b.Fatal(err)
				}
				<-s.Done(g)
			})
			b.ReportMetric(ms(got[n/2]), "median-ms")
			b.ReportMetric(ms(plain[n/2]), "forkexec-median-ms")
			b.ReportMetric(float64(got[n/2])/float64(plain[n/2]), "x-forkexec")
		})
	}
}

func sample(n int, f func()) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		f()
		out[i] = time.Since(start)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func TestShutdownLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t)
	s, err := New(Config{Node: "test", LogDir: t.TempDir(),
		Record: func(context.Context, model.State, model.Process) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := s.Start(context.Background(), model.Process{GPID: model.FormatGPID(uint64(i)),
			Spec: model.Spec{Command: []string{"sleep", "60"}, Restart: model.RestartAlways, StopTimeout: time.Second}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("%d processes still managed after Shutdown", n)
	}
}
