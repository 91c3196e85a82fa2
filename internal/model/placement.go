package model

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// This file holds what placement is made of: label constraints (--constraint),
// resource requests (--cpu, --memory) and node capacity. The scheduler itself
// is internal/sched.

// A Constraint is a condition on a node's labels: Key=Value, or Key!=Value
// when Not is set. Labels are case-sensitive.
type Constraint struct {
	Key   string `json:"key"`
	Value string `json:"value"`
	Not   bool   `json:"not,omitempty"`
}

const constraintForm = "use key=value or key!=value, like zone=eu or disk!=hdd: " +
	"a key of 1-253 and a value of 1-63 letters, digits, '.', '-', '_' or '/', " +
	"each starting and ending with a letter or digit"

// ParseConstraint parses "key=value" or "key!=value". A key is 1-253 and a
// value 1-63 letters, digits, '.', '-', '_' or '/', starting and ending with
// a letter or digit ("kubernetes.io/arch=amd64"). An empty value is refused,
// as it is in a node label (ValidateLabel): "zone=" is more likely a slip
// than a wish, and key!=value is already met by a node without the key.
func ParseConstraint(s string) (Constraint, error) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return Constraint{}, Invalid(s, fmt.Sprintf("invalid constraint %q: no '=' or '!='; %s", s, constraintForm))
	}
	c := Constraint{Key: s[:i], Value: s[i+1:]}
	if strings.HasSuffix(c.Key, "!") {
		c.Key, c.Not = c.Key[:len(c.Key)-1], true
	}
	if err := checkLabel(c.Key, c.Value); err != "" {
		return Constraint{}, Invalid(s, fmt.Sprintf("invalid constraint %q: %s; %s", s, err, constraintForm))
	}
	return c, nil
}

// String returns c as ParseConstraint reads it: "zone=eu" or "zone!=eu".
func (c Constraint) String() string {
	if c.Not {
		return c.Key + "!=" + c.Value
	}
	return c.Key + "=" + c.Value
}

// Matches reports whether a node with labels meets c. A node without the key
// meets key!=value and fails key=value.
func (c Constraint) Matches(labels map[string]string) bool {
	v, ok := labels[c.Key]
	if c.Not {
		return !ok || v != c.Value
	}
	return ok && v == c.Value
}

// ValidateLabel checks a node label (--label key=value) by the rules of
// constraints, so that every label can be asked for.
func ValidateLabel(key, value string) error {
	if err := checkLabel(key, value); err != "" {
		kv := key + "=" + value
		return Invalid(kv, fmt.Sprintf("invalid label %q: %s; use key=value: a key of 1-253 and a value of 1-63 "+
			"letters, digits, '.', '-', '_' or '/', each starting and ending with a letter or digit", kv, err))
	}
	return nil
}

// checkLabel returns what is wrong with key and value, or "".
func checkLabel(key, value string) string {
	switch {
	case key == "":
		return "empty key"
	case len(key) > 253:
		return "key longer than 253"
	case !labelChars(key):
		return fmt.Sprintf("bad key %q", key)
	case value == "":
		return "empty value"
	case len(value) > 63:
		return "value longer than 63"
	case !labelChars(value):
		return fmt.Sprintf("bad value %q", value)
	}
	return ""
}

// labelChars reports whether s is letters, digits, '.', '-', '_' and '/',
// starting and ending with a letter or digit.
func labelChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || i == len(s)-1 || strings.IndexByte(".-_/", c) < 0) {
			return false
		}
	}
	return true
}

// Resources is what a process asks for. Zero in a dimension asks for nothing
// there: the process fits any node in that dimension.
type Resources struct {
	// CPUMilli is the CPU request in millicores: 500 is half a core.
	CPUMilli int64 `json:"cpu_milli,omitempty"`
	// MemoryBytes is the memory request in bytes.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
}

// Validate checks that r asks for no negative amount.
func (r Resources) Validate() error {
	if r.CPUMilli < 0 {
		return Invalid(FormatCPU(r.CPUMilli), fmt.Sprintf("invalid cpu request %s: use 0 or more", FormatCPU(r.CPUMilli)))
	}
	if r.MemoryBytes < 0 {
		return Invalid(strconv.FormatInt(r.MemoryBytes, 10), fmt.Sprintf("invalid memory request %d: use 0 or more", r.MemoryBytes))
	}
	return nil
}

// Capacity is what a node offers, or (as the allocation of a node) what its
// live processes hold. Zero in a dimension of a node's capacity means not
// declared: no limit there.
type Capacity struct {
	CPUMilli    int64 `json:"cpu_milli,omitempty"`
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// MaxProcs is the number of process slots (of an allocation: the number
	// of live processes).
	MaxProcs int `json:"max_procs,omitempty"`
}

const cpuForm = "use cores like 0.5 or 2, or millicores like 500m"

// ParseCPU parses a CPU amount into millicores: "2" is 2000, "0.5" and
// "500m" are 500. An amount finer than a millicore is rounded up ("0.0001"
// is 1).
func ParseCPU(s string) (int64, error) {
	n, unit, err := parseQuantity(s, func(unit string) (uint64, bool) {
		switch unit {
		case "":
			return 1000, true
		case "m":
			return 1, true
		}
		return 0, false
	})
	if err != 0 {
		return 0, Invalid(s, fmt.Sprintf("invalid cpu %q: %s; %s", s, errText(err, unit), cpuForm))
	}
	return n, nil
}

// FormatCPU returns milli as ParseCPU reads it: whole cores as a number of
// cores ("2"), other amounts in millicores ("500m", "1500m").
func FormatCPU(milli int64) string {
	if milli%1000 == 0 {
		return strconv.FormatInt(milli/1000, 10)
	}
	return strconv.FormatInt(milli, 10) + "m"
}

const memoryForm = "use a size like 512Mi, 1.5Gi or 2G " +
	"(units Ki Mi Gi Ti Pi of 1024, k M G T P of 1000; a bare number is bytes)"

// memUnits are the memory units, largest first.
var memUnits = []struct {
	name string
	size uint64
}{
	{"Pi", 1 << 50}, {"P", 1e15}, {"Ti", 1 << 40}, {"T", 1e12}, {"Gi", 1 << 30},
	{"G", 1e9}, {"Mi", 1 << 20}, {"M", 1e6}, {"Ki", 1 << 10}, {"k", 1e3},
}

// ParseMemory parses a memory size into bytes: "512Mi", "1.5Gi", "2G",
// "1048576". Units are those of Kubernetes: Ki, Mi, Gi, Ti, Pi (powers of
// 1024) and k, M, G, T, P (powers of 1000); a bare number is bytes. Other
// spellings ("512MB", "1g", "1GiB") are refused rather than guessed, since
// tools disagree on them. A fraction of a byte is rounded up.
func ParseMemory(s string) (int64, error) {
	n, unit, err := parseQuantity(s, func(unit string) (uint64, bool) {
		if unit == "" {
			return 1, true
		}
		for _, u := range memUnits {
			if u.name == unit {
				return u.size, true
			}
		}
		return 0, false
	})
	if err != 0 {
		return 0, Invalid(s, fmt.Sprintf("invalid memory %q: %s; %s", s, errText(err, unit), memoryForm))
	}
	return n, nil
}

// FormatMemory returns n bytes for people: in the largest unit in which it is
// exact to two decimals and under 10000 ("200Mi", "1.5Gi", "2G", "1100Mi"),
// else in the largest binary unit not above it, rounded down to two decimals
// ("117.73Mi" for 123456789, "15.55Gi" for 16314367Ki). Below 1000 it is
// bytes. ParseMemory reads it back as n in the first case, and as at most n
// and at least 99% of n in the second.
func FormatMemory(n int64) string {
	if n < 1000 {
		return strconv.FormatInt(n, 10)
	}
	u := uint64(n)
	for _, unit := range memUnits {
		if u >= unit.size && u/unit.size < 10000 && u%unit.size*100%unit.size == 0 {
			return formatIn(u, unit.size, unit.name)
		}
	}
	for _, unit := range memUnits {
		if u >= unit.size && unit.name[len(unit.name)-1] == 'i' {
			return formatIn(u, unit.size, unit.name)
		}
	}
	return strconv.FormatInt(n, 10) // below 1Ki
}

// formatIn returns n in unit size, rounded down to two decimals.
func formatIn(n, size uint64, name string) string {
	s := strconv.FormatUint(n/size, 10)
	if cents := n % size * 100 / size; cents != 0 {
		s += strings.TrimRight(fmt.Sprintf(".%02d", cents), "0")
	}
	return s + name
}

// Errors of parseQuantity, turned into text by errText.
const (
	errSyntax = iota + 1
	errNegative
	errPrecision
	errUnit
	errLarge
)

func errText(err int, unit string) string {
	switch err {
	case errNegative:
		return "negative"
	case errPrecision:
		return "more than 18 digits after the point"
	case errUnit:
		return fmt.Sprintf("unknown unit %q", unit)
	case errLarge:
		return "too large"
	}
	return "not a number with an optional unit"
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// parseQuantity parses a decimal number ("2", "0.5", ".5") followed by a
// unit that unit turns into a multiplier, and returns the product rounded
// up; or one of the err constants and the unit.
func parseQuantity(s string, unit func(string) (uint64, bool)) (n int64, u string, err int) {
	if strings.HasPrefix(s, "-") {
		return 0, "", errNegative
	}
	mant, frac, rest, err := splitNumber(s)
	if err != 0 {
		return 0, "", err
	}
	mult, ok := unit(rest)
	if !ok {
		return 0, rest, errUnit
	}
	hi, lo := bits.Mul64(mant, mult)
	den := pow10[frac]
	if hi >= den {
		return 0, "", errLarge
	}
	q, r := bits.Div64(hi, lo, den)
	if q > math.MaxInt64 || q == math.MaxInt64 && r != 0 {
		return 0, "", errLarge
	}
	if r != 0 {
		q++
	}
	return int64(q), "", 0
}

// splitNumber splits s into the digits of its leading decimal number (as an
// integer, without the point), the count of digits after the point, and what
// follows.
func splitNumber(s string) (mant uint64, frac int, rest string, err int) {
	i, digits, point := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' && !point {
			point = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		if mant > (math.MaxUint64-9)/10 {
			return 0, 0, "", errLarge
		}
		mant, digits = mant*10+uint64(c-'0'), digits+1
		if point {
			frac++
		}
	}
	switch {
	case digits == 0 || point && frac == 0:
		return 0, 0, "", errSyntax
	case frac >= len(pow10):
		return 0, 0, "", errPrecision
	}
	return mant, frac, s[i:], 0
}
