package agent

import (
	"bytes"
	"errors"
	"testing"
)

func TestReplaySkipsWhatEarlierAttemptsWrote(t *testing.T) {
	var out bytes.Buffer
	r := &replay{w: &out}
	r.Write([]byte("abc"))
	r.Write([]byte("de"))
	r.seen = 0 // a second attempt, from the first byte
	for _, chunk := range []string{"ab", "cdefg", "h"} {
		if n, err := r.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", chunk, n, err)
		}
	}
	if out.String() != "abcdefgh" || r.written != 8 {
		t.Fatalf("wrote %q (%d), want abcdefgh once", out.String(), r.written)
	}
}

type failAfter struct{ n int }

var errGone = errors.New("gone")

func (f *failAfter) Write(b []byte) (int, error) {
	if len(b) > f.n {
		n := f.n
		f.n = 0
		return n, errGone
	}
	f.n -= len(b)
	return len(b), nil
}

func TestReplayKeepsTheWritersError(t *testing.T) {
	r := &replay{w: &failAfter{n: 3}}
	if n, err := r.Write([]byte("abcde")); n != 3 || !errors.Is(err, errGone) || !errors.Is(r.err, errGone) || r.written != 3 {
		t.Fatalf("Write = %d, %v; err %v, written %d; want 3, gone, gone, 3", n, err, r.err, r.written)
	}
}
