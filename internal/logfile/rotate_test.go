package logfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyValidate(t *testing.T) {
	for _, tc := range []struct {
		p  Policy
		ok bool
	}{
		{DefaultPolicy, true},
		{Policy{MaxBytes: 1, Files: 1}, true},
		{Policy{}, false},
		{Policy{MaxBytes: 0, Files: 3}, false},
		{Policy{MaxBytes: -1, Files: 3}, false},
		{Policy{MaxBytes: 10, Files: 0}, false},
	} {
		if err := tc.p.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v.Validate() = %v, want ok %v", tc.p, err, tc.ok)
		}
	}
}

func TestOpenCreatesDirAndAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "out.log")
	appendFile(t, path, "one\n")
	appendFile(t, path, "two\n")
	if got, _ := readFile(t, path); got != "one\ntwo\n" {
		t.Errorf("file = %q, want both writes appended", got)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^0o640 != 0 {
		t.Errorf("mode = %v, want at most 0640", perm)
	}
}

// expectFiles checks the contents of path, path.1, … path.(len(want)-1), and
// that path.(len(want)) does not exist.
func expectFiles(t *testing.T, path string, want ...string) {
	t.Helper()
	for k, w := range want {
		name := path
		if k > 0 {
			name = copyName(path, k)
		}
		got, ok := readFile(t, name)
		if !ok || got != w {
			t.Errorf("%s = %q (exists %v), want %q", filepath.Base(name), got, ok, w)
		}
	}
	if _, ok := readFile(t, copyName(path, len(want))); ok {
		t.Errorf("%s exists, want it dropped", filepath.Base(copyName(path, len(want))))
	}
}

func TestRotateKeepsFilesAndDropsOldest(t *testing.T) {
	path := logPath(t)
	p := Policy{MaxBytes: 10, Files: 3}
	a, b, c := strings.Repeat("a", 11), strings.Repeat("b", 11), strings.Repeat("c", 11)
	rotate := func(want bool) {
		t.Helper()
		if got, err := Rotate(path, p); err != nil || got != want {
			t.Fatalf("Rotate = %v, %v; want %v, nil", got, err, want)
		}
	}

	appendFile(t, path, a)
	rotate(true)
	expectFiles(t, path, "", a)
	appendFile(t, path, b)
	rotate(true)
	expectFiles(t, path, "", b, a)
	appendFile(t, path, c)
	rotate(true)
	expectFiles(t, path, "", c, b)
	appendFile(t, path, "0123456789") // exactly MaxBytes: not larger
	rotate(false)
	expectFiles(t, path, "0123456789", c, b)
	if _, ok := readFile(t, copyName(path, 1)+".tmp"); ok {
		t.Error("temporary copy left behind")
	}
}

func TestRotateMissingFile(t *testing.T) {
	if got, err := Rotate(logPath(t), DefaultPolicy); got || err != nil {
		t.Errorf("Rotate(missing) = %v, %v; want false, nil", got, err)
	}
}

func TestRotateInvalidPolicy(t *testing.T) {
	path := logPath(t)
	appendFile(t, path, "x")
	if _, err := Rotate(path, Policy{}); err == nil {
		t.Error("Rotate with a zero Policy succeeded, want an error")
	}
}

func TestRotateOneFileDiscards(t *testing.T) {
	path := logPath(t)
	writeFile(t, copyName(path, 1), "stale 1")
	writeFile(t, copyName(path, 2), "stale 2")
	appendFile(t, path, "0123456789")
	if got, err := Rotate(path, Policy{MaxBytes: 5, Files: 1}); !got || err != nil {
		t.Fatalf("Rotate = %v, %v; want true, nil", got, err)
	}
	expectFiles(t, path, "")
	if _, ok := readFile(t, copyName(path, 2)); ok {
		t.Error("stale path.2 kept")
	}
}

func TestRotateSmallerPolicyRemovesExtraCopies(t *testing.T) {
	path := logPath(t)
	for k := 1; k <= 4; k++ {
		writeFile(t, copyName(path, k), "old")
	}
	appendFile(t, path, "0123456789")
	if got, err := Rotate(path, Policy{MaxBytes: 5, Files: 3}); !got || err != nil {
		t.Fatalf("Rotate = %v, %v; want true, nil", got, err)
	}
	expectFiles(t, path, "", "0123456789", "old")
	if _, ok := readFile(t, copyName(path, 4)); ok {
		t.Error("path.4 kept")
	}
}

// After the truncate, a writer opened with Open writes at offset 0: no hole
// of zeros where the old bytes were.
func TestRotateWriterContinuesAtZero(t *testing.T) {
	path := logPath(t)
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.WriteString("0123456789")
	if _, err := Rotate(path, Policy{MaxBytes: 5, Files: 2}); err != nil {
		t.Fatal(err)
	}
	w.WriteString("x")
	expectFiles(t, path, "x", "0123456789")
}
