package model

import (
	"fmt"
	"strconv"
)

// GPID is a global process id: unique in the cluster, never reused, kept
// across in-place restarts. It is "p" followed by a decimal sequence number
// without leading zeros (p1, p2, … p1042): short to type and read aloud, and
// no name can look like one, since a name may not be "p" and digits only.
type GPID string

// FormatGPID returns the GPID of sequence number seq (seq >= 1).
func FormatGPID(seq uint64) GPID {
	return GPID("p" + strconv.FormatUint(seq, 10))
}

// ParseGPID checks that s is a well-formed GPID and returns its sequence number.
func ParseGPID(s string) (uint64, error) {
	bad := fmt.Errorf("%q is not a GPID (p followed by a number, like p42)", s)
	if len(s) < 2 || len(s) > 21 || s[0] != 'p' || s[1] == '0' {
		return 0, bad
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return 0, bad
		}
	}
	n, err := strconv.ParseUint(s[1:], 10, 64)
	if err != nil {
		return 0, bad
	}
	return n, nil
}

// IsGPID reports whether s has the form of a GPID.
func IsGPID(s string) bool {
	_, err := ParseGPID(s)
	return err == nil
}
