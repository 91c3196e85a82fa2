package model

import (
	"fmt"
	"strings"
)

// GPID is a global process id: unique in the cluster, never reused, kept
// across in-place restarts. It is "p" followed by a sequence number in
// lower-case Crockford base 32 (no i, l, o or u), so p1, p2, … pzz, p100: short
// to type, and never confused with 1/l or 0/o.
type GPID string

const gpidDigits = "0123456789abcdefghjkmnpqrstvwxyz"

// FormatGPID returns the GPID of sequence number seq (seq >= 1).
func FormatGPID(seq uint64) GPID {
	if seq == 0 {
		return "p0"
	}
	var b [14]byte
	i := len(b)
	for seq > 0 {
		i--
		b[i] = gpidDigits[seq%32]
		seq /= 32
	}
	i--
	b[i] = 'p'
	return GPID(b[i:])
}

// ParseGPID checks that s is a well-formed GPID and returns its sequence number.
func ParseGPID(s string) (uint64, error) {
	if len(s) < 2 || len(s) > 14 || s[0] != 'p' || s[1] == '0' {
		return 0, fmt.Errorf("%q is not a GPID (p followed by base-32 digits, like p1k)", s)
	}
	var n uint64
	for _, c := range s[1:] {
		d := strings.IndexRune(gpidDigits, c)
		if d < 0 {
			return 0, fmt.Errorf("%q is not a GPID (p followed by base-32 digits, like p1k)", s)
		}
		n = n*32 + uint64(d)
	}
	return n, nil
}

// IsGPID reports whether s has the form of a GPID.
func IsGPID(s string) bool {
	_, err := ParseGPID(s)
	return err == nil
}
