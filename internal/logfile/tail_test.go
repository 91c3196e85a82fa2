package logfile

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
)

func TestTail(t *testing.T) {
	three := []string{"1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n"} // path.2, path.1, path
	for _, tc := range []struct {
		name  string
		files []string // oldest first: path.(len-1), …, path.1, path
		n     int
		want  string
	}{
		{"within the live file", three, 2, "8\n9\n"},
		{"all of the live file", three, 3, "7\n8\n9\n"},
		{"spanning files", three, 5, "5\n6\n7\n8\n9\n"},
		{"more than there is", three, 100, strings.Join(three, "")},
		{"everything", three, -1, strings.Join(three, "")},
		{"zero lines", three, 0, ""},
		{"partial last line", []string{"a\nb\nc"}, 1, "c"},
		{"partial last line and one more", []string{"a\nb\nc"}, 2, "b\nc"},
		{"line cut between files", []string{"a\nbb", "bb\nc\n"}, 2, "bbbb\nc\n"},
		{"empty live file", []string{"a\nb\n", ""}, 1, "b\n"},
		{"empty lines", []string{"\n\n\n"}, 2, "\n\n"},
		{"empty", []string{""}, 5, ""},
		{"missing", nil, 5, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := logPath(t)
			for i, data := range tc.files {
				name := path
				if k := len(tc.files) - 1 - i; k > 0 {
					name = copyName(path, k)
				}
				writeFile(t, name, data)
			}
			got, end, err := Tail(path, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("Tail(%d) = %q, want %q", tc.n, got, tc.want)
			}
			if live := int64(len(lastOf(tc.files))); end != live {
				t.Errorf("end = %d, want the live file's size %d", end, live)
			}
		})
	}
}

func lastOf(files []string) string {
	if len(files) == 0 {
		return ""
	}
	return files[len(files)-1]
}

// Copies are read even when the live file is missing.
func TestTailMissingLiveFile(t *testing.T) {
	path := logPath(t)
	writeFile(t, copyName(path, 1), "a\nb\n")
	got, end, err := Tail(path, 1)
	if err != nil || string(got) != "b\n" || end != 0 {
		t.Errorf("Tail = %q, %d, %v; want %q, 0, nil", got, end, err, "b\n")
	}
}

// A countingReader counts the bytes read through it.
type countingReader struct {
	r    io.ReaderAt
	read atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.read.Add(int64(n))
	return n, err
}

// The last lines of a big file cost one block, not the file.
func TestTailReadsBackwards(t *testing.T) {
	var big bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&big, "line %d\n", i)
	}
	cr := &countingReader{r: bytes.NewReader(big.Bytes())}
	got, err := lastLines([]segment{{cr, int64(big.Len())}}, 2, tailBlock)
	if err != nil {
		t.Fatal(err)
	}
	if want := "line 99998\nline 99999\n"; string(got) != want {
		t.Errorf("lastLines = %q, want %q", got, want)
	}
	if n := cr.read.Load(); n > tailBlock {
		t.Errorf("read %d bytes of %d, want at most one block (%d)", n, big.Len(), tailBlock)
	}
}

// refLastLines is lastLines written the obvious way.
func refLastLines(data []byte, n int) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	if n >= 0 && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, nil)
}

// FuzzLastLines checks lastLines against refLastLines, with data cut into up
// to three segments and read in tiny blocks, so that lines cross both.
func FuzzLastLines(f *testing.F) {
	f.Add([]byte("a\nb\nc\n"), uint16(2), uint16(3), int8(2), uint8(1))
	f.Add([]byte("a\nb\nc"), uint16(0), uint16(0), int8(1), uint8(3))
	f.Add([]byte("\n\n\nx"), uint16(1), uint16(4), int8(-1), uint8(2))
	f.Add([]byte(""), uint16(0), uint16(0), int8(3), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut1, cut2 uint16, n int8, block uint8) {
		c1 := int(cut1) % (len(data) + 1)
		c2 := c1 + int(cut2)%(len(data)-c1+1)
		var segs []segment
		for _, part := range [][]byte{data[:c1], data[c1:c2], data[c2:]} {
			segs = append(segs, segment{bytes.NewReader(part), int64(len(part))})
		}
		got, err := lastLines(segs, int(n), int(block)%7+1)
		if err != nil {
			t.Fatal(err)
		}
		if want := refLastLines(data, int(n)); !bytes.Equal(got, want) {
			t.Errorf("lastLines(%q cut at %d,%d, %d) = %q, want %q", data, c1, c2, n, got, want)
		}
	})
}
