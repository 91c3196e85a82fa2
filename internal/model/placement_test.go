package model

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestParseConstraint(t *testing.T) {
	cases := []struct {
		in   string
		want Constraint
	}{
		{"zone=eu", Constraint{Key: "zone", Value: "eu"}},
		{"zone!=eu", Constraint{Key: "zone", Value: "eu", Not: true}},
		{"kubernetes.io/arch=amd64", Constraint{Key: "kubernetes.io/arch", Value: "amd64"}},
		{"Disk_Type=ssd-nvme.2", Constraint{Key: "Disk_Type", Value: "ssd-nvme.2"}},
		{"a=b/c", Constraint{Key: "a", Value: "b/c"}},
		{"x=1", Constraint{Key: "x", Value: "1"}},
	}
	for _, c := range cases {
		got, err := ParseConstraint(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseConstraint(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if got.String() != c.in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), c.in)
		}
	}
}

func TestParseConstraintErrors(t *testing.T) {
	cases := []struct{ in, why string }{
		{"", "no '=' or '!='"},
		{"zone", "no '=' or '!='"},
		{"zone:eu", "no '=' or '!='"},
		{"=eu", "empty key"},
		{"!=eu", "empty key"},
		{"zone=", "empty value"},
		{"zone!=", "empty value"},
		{"zone==eu", `bad value "=eu"`},
		{"zone=!eu", `bad value "!eu"`},
		{"zone=eu=west", `bad value "eu=west"`},
		{"zone =eu", `bad key "zone "`},
		{"zone= eu", `bad value " eu"`},
		{"-zone=eu", `bad key "-zone"`},
		{"zone.=eu", `bad key "zone."`},
		{"zo!ne=eu", `bad key "zo!ne"`},
		{"zone=eu-", `bad value "eu-"`},
		{"zone=é", `bad value "é"`},
		{strings.Repeat("k", 254) + "=v", "key longer than 253"},
		{"k=" + strings.Repeat("v", 64), "value longer than 63"},
	}
	for _, c := range cases {
		_, err := ParseConstraint(c.in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseConstraint(%q) = %v, want ErrInvalid", c.in, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.why) || !strings.Contains(msg, "use key=value or key!=value") ||
			!strings.HasPrefix(msg, "invalid constraint ") {
			t.Errorf("ParseConstraint(%q): %q does not say %q and the allowed form", c.in, msg, c.why)
		}
		var se *SubjectError
		if !errors.As(err, &se) || se.Subject != c.in {
			t.Errorf("ParseConstraint(%q): subject of %v is not the input", c.in, err)
		}
	}
	if _, err := ParseConstraint(strings.Repeat("k", 253) + "=" + strings.Repeat("v", 63)); err != nil {
		t.Errorf("longest key and value refused: %v", err)
	}
}

func TestConstraintMatches(t *testing.T) {
	labels := map[string]string{"zone": "eu", "disk": "ssd"}
	cases := []struct {
		c      string
		labels map[string]string
		want   bool
	}{
		{"zone=eu", labels, true},
		{"zone=us", labels, false},
		{"arch=arm", labels, false},
		{"zone!=us", labels, true},
		{"zone!=eu", labels, false},
		{"arch!=arm", labels, true},
		{"zone=eu", nil, false},
		{"zone!=eu", nil, true},
		{"Zone=eu", labels, false},
		{"zone=EU", labels, false},
	}
	for _, c := range cases {
		con, err := ParseConstraint(c.c)
		if err != nil {
			t.Fatal(err)
		}
		if got := con.Matches(c.labels); got != c.want {
			t.Errorf("%s.Matches(%v) = %v", c.c, c.labels, got)
		}
	}
	// A constraint made by hand with an empty value matches a label set empty.
	if !(Constraint{Key: "k"}).Matches(map[string]string{"k": ""}) || (Constraint{Key: "k"}).Matches(nil) {
		t.Error("k= by hand: wrong match")
	}
}

func TestValidateLabel(t *testing.T) {
	if err := ValidateLabel("zone", "eu-west-1"); err != nil {
		t.Error(err)
	}
	for _, kv := range [][2]string{{"", "eu"}, {"zone", ""}, {"zone", "e u"}, {"zo=ne", "eu"}} {
		err := ValidateLabel(kv[0], kv[1])
		if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "invalid label ") || !strings.Contains(err.Error(), "use key=value") {
			t.Errorf("ValidateLabel(%q, %q) = %v", kv[0], kv[1], err)
		}
	}
}

func FuzzParseConstraint(f *testing.F) {
	for _, s := range []string{"zone=eu", "zone!=eu", "a/b.c=d", "=", "!=", "a!=!=b", "a==b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseConstraint(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", s, err)
			}
			return
		}
		if c.String() != s {
			t.Fatalf("%q parsed to %+v, which prints as %q", s, c, c.String())
		}
		if err := ValidateLabel(c.Key, c.Value); err != nil {
			t.Fatalf("%q: a constraint that no label can meet: %v", s, err)
		}
		labels := map[string]string{c.Key: c.Value}
		if c.Matches(labels) != !c.Not || c.Matches(nil) != c.Not {
			t.Fatalf("%q: wrong match", s)
		}
	})
}

func TestParseCPU(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"0m", 0}, {"2", 2000}, {"0.5", 500}, {".5", 500}, {"500m", 500},
		{"1.25", 1250}, {"0.001", 1}, {"0.0001", 1}, {"1.0001", 1001}, {"1.5m", 2},
		{"0.5000", 500}, {"64", 64000}, {"007", 7000},
		{"9223372036854775807m", math.MaxInt64}, {"9223372036854775.807", math.MaxInt64},
	}
	for _, c := range cases {
		if got, err := ParseCPU(c.in); err != nil || got != c.want {
			t.Errorf("ParseCPU(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseCPUErrors(t *testing.T) {
	cases := []struct{ in, why string }{
		{"", "not a number"},
		{"m", "not a number"},
		{".", "not a number"},
		{"1.", "not a number"},
		{"+1", "not a number"},
		{" 1", "not a number"},
		{"one", "not a number"},
		{"-1", "negative"},
		{"-500m", "negative"},
		{"1 m", `unknown unit " m"`},
		{"1M", `unknown unit "M"`},
		{"2cores", `unknown unit "cores"`},
		{"1e3", `unknown unit "e3"`},
		{"1.2.3", `unknown unit ".3"`},
		{"9223372036854775808m", "too large"},
		{"9223372036854776", "too large"},
		{"99999999999999999999", "too large"},
		{"0.0000000000000000001", "more than 18 digits after the point"},
	}
	for _, c := range cases {
		_, err := ParseCPU(c.in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseCPU(%q) = %v, want ErrInvalid", c.in, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "invalid cpu ") || !strings.Contains(msg, c.why) || !strings.Contains(msg, cpuForm) {
			t.Errorf("ParseCPU(%q): %q does not say %q and the allowed form", c.in, msg, c.why)
		}
	}
}

func TestFormatCPU(t *testing.T) {
	for milli, want := range map[int64]string{0: "0", 1: "1m", 500: "500m", 1000: "1", 1500: "1500m", 2000: "2", 64000: "64"} {
		if got := FormatCPU(milli); got != want {
			t.Errorf("FormatCPU(%d) = %q, want %q", milli, got, want)
		}
	}
}

func FuzzParseCPU(f *testing.F) {
	for _, s := range []string{"0", "2", "0.5", "500m", "1.5m", "-1", "1e3", "9223372036854775807m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseCPU(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed to %d", s, n)
		}
		if back, err := ParseCPU(FormatCPU(n)); err != nil || back != n {
			t.Fatalf("%q parsed to %d, formatted as %q, parsed back to %d, %v", s, n, FormatCPU(n), back, err)
		}
	})
}

func FuzzFormatCPU(f *testing.F) {
	for _, n := range []int64{0, 1, 999, 1000, 1001, math.MaxInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 {
			return
		}
		if back, err := ParseCPU(FormatCPU(n)); err != nil || back != n {
			t.Fatalf("%d formatted as %q parsed back to %d, %v", n, FormatCPU(n), back, err)
		}
	})
}

const (
	ki = 1 << 10
	mi = 1 << 20
	gi = 1 << 30
)

func TestParseMemory(t *testing.T) {
	cases := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"1024", 1024}, {"512Mi", 512 * mi}, {"1Gi", gi}, {"1.5Gi", 3 * gi / 2},
		{"256M", 256e6}, {"2G", 2e9}, {"1k", 1000}, {"1Ki", ki}, {"1Ti", 1 << 40}, {"1T", 1e12},
		{"1Pi", 1 << 50}, {"1P", 1e15}, {".5Ki", 512}, {"1.3Ki", 1332}, {"0.1", 1}, {"0Gi", 0},
		{"8191Pi", 8191 << 50}, {"9223372036854775807", math.MaxInt64},
	}
	for _, c := range cases {
		if got, err := ParseMemory(c.in); err != nil || got != c.want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
}

func TestParseMemoryErrors(t *testing.T) {
	cases := []struct{ in, why string }{
		{"", "not a number"},
		{"Gi", "not a number"},
		{"1.Gi", "not a number"},
		{"abc", "not a number"},
		{"+1Gi", "not a number"},
		{"-1", "negative"},
		{"-1Gi", "negative"},
		{"512MB", `unknown unit "MB"`},
		{"1GiB", `unknown unit "GiB"`},
		{"1g", `unknown unit "g"`},
		{"512m", `unknown unit "m"`},
		{"1K", `unknown unit "K"`},
		{"1 Gi", `unknown unit " Gi"`},
		{"1B", `unknown unit "B"`},
		{"8192Pi", "too large"},
		{"9223372036854775808", "too large"},
		{"99999999999999999999Gi", "too large"},
		{"1.0000000000000000000Gi", "more than 18 digits after the point"},
	}
	for _, c := range cases {
		_, err := ParseMemory(c.in)
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMemory(%q) = %v, want ErrInvalid", c.in, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "invalid memory ") || !strings.Contains(msg, c.why) || !strings.Contains(msg, memoryForm) {
			t.Errorf("ParseMemory(%q): %q does not say %q and the allowed form", c.in, msg, c.why)
		}
	}
}

func TestFormatMemory(t *testing.T) {
	cases := []struct {
		n    int64
		want string
	}{
		{0, "0"}, {1, "1"}, {1000, "1k"}, {1001, "1001"}, {1023, "1023"}, {1024, "1Ki"},
		{1536, "1.5Ki"}, {1500, "1.5k"}, {200 * mi, "200Mi"}, {3 * gi / 2, "1.5Gi"},
		{5 * gi / 4, "1.25Gi"}, {2e9, "2G"}, {1e6, "1M"}, {1000 * ki, "1000Ki"},
		{123456789, "117.73Mi"}, {9 * gi / 8, "1152Mi"}, {16314368 * ki, "15.55Gi"}, {1100 * mi, "1100Mi"}, {10000 * ki, "10.24M"}, {10001 * ki, "9.76Mi"},
		{16314367 * ki, "15.55Gi"}, {gi + 1, "1Gi"}, {999, "999"},
		{math.MaxInt64, "8191.99Pi"}, {-5, "-5"},
	}
	for _, c := range cases {
		if got := FormatMemory(c.n); got != c.want {
			t.Errorf("FormatMemory(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

// checkMemoryRoundTrip checks that FormatMemory(n) reads back as n when it is
// exact, and as at most n and at least 99% of n when it is rounded.
func checkMemoryRoundTrip(t *testing.T, n int64) {
	s := FormatMemory(n)
	back, err := ParseMemory(s)
	if err != nil || back > n || n-back > n/100 {
		t.Fatalf("%d formatted as %q parsed back to %d, %v", n, s, back, err)
	}
	if back != n && n%(1<<10) == 0 && n < 1<<20 {
		t.Fatalf("%d formatted as %q is not exact", n, s)
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"0", "1024", "512Mi", "1.5Gi", "2G", "1.3Ki", "-1", "512MB", "8192Pi"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemory(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("%q: error %v is not ErrInvalid", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("%q parsed to %d", s, n)
		}
		checkMemoryRoundTrip(t, n)
	})
}

func FuzzFormatMemory(f *testing.F) {
	for _, n := range []int64{0, 1023, 1024, 1536, 200 * mi, 123456789, math.MaxInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n >= 0 {
			checkMemoryRoundTrip(t, n)
		}
	})
}

func TestResourcesValidate(t *testing.T) {
	if err := (Resources{CPUMilli: 500, MemoryBytes: 512 * mi}).Validate(); err != nil {
		t.Error(err)
	}
	if err := (Resources{}).Validate(); err != nil {
		t.Error(err)
	}
	for _, r := range []Resources{{CPUMilli: -1}, {MemoryBytes: -1}} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "use 0 or more") {
			t.Errorf("%+v.Validate() = %v", r, err)
		}
	}
}
