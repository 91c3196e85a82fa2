package supervisor

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	"go.uber.org/goleak"

	"github.com/nefele/nefele/internal/model"
)

// newFeedSupervisor returns a supervisor whose Feed is feed.
func newFeedSupervisor(t *testing.T, feed func(context.Context, model.Process, io.Writer)) *Supervisor {
	s, err := New(Config{Node: "test", LogDir: t.TempDir(), Feed: feed,
		Record: func(context.Context, model.State, model.Process) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

func TestFeedWritesStdinThenEOF(t *testing.T) {
	s := newFeedSupervisor(t, func(_ context.Context, rec model.Process, w io.Writer) {
		io.WriteString(w, "from "+rec.Spec.StdinFrom+"\n")
	})
	rec, err := s.Start(context.Background(), model.Process{GPID: "p2",
		Spec: model.Spec{Command: []string{"cat"}, StdinFrom: "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	<-s.Done("p2") // cat ends only on EOF
	out, err := os.ReadFile(s.LogPath(rec, "stdout"))
	if err != nil || string(out) != "from p1\n" {
		t.Fatalf("stdout %q (%v), want what Feed wrote", out, err)
	}
}

func TestFeedEndsWhenTheProcessReadsNoMore(t *testing.T) {
	defer goleak.VerifyNone(t)
	fed := make(chan error, 1)
	s := newFeedSupervisor(t, func(ctx context.Context, _ model.Process, w io.Writer) {
		buf := []byte(strings.Repeat("x", 4096))
		for {
			if _, err := w.Write(buf); err != nil {
				fed <- err
				return
			}
		}
	})
	if _, err := s.Start(context.Background(), model.Process{GPID: "p2",
		Spec: model.Spec{Command: []string{"head", "-c", "1"}, StdinFrom: "p1"}}); err != nil {
		t.Fatal(err)
	}
	<-s.Done("p2")
	if err := <-fed; !errors.Is(err, syscall.EPIPE) && !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Feed's write: %v, want EPIPE or closed once head has gone", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestNoFeedReadsDevNull(t *testing.T) {
	s := newTestSupervisor(t, nil)
	rec, err := s.Start(context.Background(), model.Process{GPID: "p2",
		Spec: model.Spec{Command: []string{"cat"}, StdinFrom: "p1"}})
	if err != nil {
		t.Fatal(err)
	}
	<-s.Done("p2")
	if out, _ := os.ReadFile(s.LogPath(rec, "stdout")); len(out) != 0 {
		t.Fatalf("stdout %q, want nothing", out)
	}
}
