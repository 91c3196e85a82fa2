package cli

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The flag values below check their input as it is parsed, so that a bad
// value fails before anything is sent to an agent, with a message that
// names the flag (pflag adds it) and the allowed form.

// enumValue is a string flag limited to a few words.
type enumValue struct {
	p       *string
	allowed []string
}

func newEnumValue(p *string, allowed ...string) *enumValue {
	return &enumValue{p: p, allowed: allowed}
}

func (v *enumValue) String() string { return *v.p }
func (v *enumValue) Type() string   { return strings.Join(v.allowed, "|") }

func (v *enumValue) Set(s string) error {
	for _, a := range v.allowed {
		if s == a {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(v.allowed, ", "))
}

// intValue is an int flag with a lower bound.
type intValue struct {
	p    *int
	min  int
	hint string // the allowed form, for the error
}

func (v *intValue) String() string { return strconv.Itoa(*v.p) }
func (v *intValue) Type() string   { return "N" }

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < v.min {
		return errors.New(v.hint)
	}
	*v.p = n
	return nil
}

// durationValue is a duration flag that is not negative.
type durationValue struct{ p *time.Duration }

// String is "0" for no duration, so that help shows no default.
func (v *durationValue) String() string {
	if *v.p == 0 {
		return "0"
	}
	return v.p.String()
}

func (v *durationValue) Type() string { return "DUR" }

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New("want a duration like 500ms, 10s or 1m30s")
	}
	*v.p = d
	return nil
}

// envValue is a repeatable KEY=VALUE flag.
type envValue struct{ p *[]string }

func (v *envValue) String() string { return strings.Join(*v.p, ",") }
func (v *envValue) Type() string   { return "KEY=VALUE" }

func (v *envValue) Set(s string) error {
	key, _, ok := strings.Cut(s, "=")
	if !ok || key == "" {
		return errors.New("want KEY=VALUE, like --env PORT=8080")
	}
	*v.p = append(*v.p, s)
	return nil
}

// sizeValue is a byte size flag: a number with an optional unit (B, KiB,
// MiB, GiB, or K, M, G meaning the same powers of 1024).
type sizeValue struct{ p *int64 }

func (v *sizeValue) String() string { return strconv.FormatInt(*v.p, 10) }
func (v *sizeValue) Type() string   { return "SIZE" }

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.p = n
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}

func parseSize(s string) (int64, error) {
	mult, num := int64(1), s
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			mult, num = u.mult, rest
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, errors.New("want a size above 0 like 10MiB, 512KiB or 1048576")
	}
	return n * mult, nil
}

// labelsValue is a k=v,k2=v2 flag of node labels.
type labelsValue struct{ p *map[string]string }

func (v *labelsValue) String() string {
	parts := make([]string, 0, len(*v.p))
	for k, val := range *v.p {
		parts = append(parts, k+"="+val)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (v *labelsValue) Type() string { return "k=v,..." }

func (v *labelsValue) Set(s string) error {
	labels := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok || !labelKeyRE.MatchString(k) || strings.ContainsAny(val, " \t=") {
			return fmt.Errorf("want key=value pairs separated by commas, like zone=eu,disk=ssd (keys: letters, digits, '.', '_', '-', '/'); %q is not one", kv)
		}
		labels[k] = val
	}
	*v.p = labels
	return nil
}

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)
