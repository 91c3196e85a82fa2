package model

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// KeyValue is one key of a tenant's key-value store.
type KeyValue struct {
	Key   string
	Value []byte
	// Revision is the store revision of the key's last write;
	// CreateRevision that of its creation.
	Revision, CreateRevision int64
	// Owner is the GPID of the process whose life the key is bound to.
	Owner GPID
}

// KVEvent is one change of a watched key.
type KVEvent struct {
	Deleted bool
	KV      KeyValue
}

// Expect is what a compare-and-swap requires of a key: absent, at a
// revision, or holding a value. Exactly one is set.
type Expect struct {
	Absent   bool
	Revision int64
	Value    []byte // nil: not compared
}

// MaxKeyLen bounds a key of the store.
const MaxKeyLen = 1024

// ValidateKey checks a key of the store: 1 to 1024 bytes of UTF-8, no NUL.
func ValidateKey(key string) error {
	switch {
	case key == "":
		return Invalid("", "missing key: give a key, like config/db-url")
	case len(key) > MaxKeyLen:
		return Invalid(key[:32]+"…", fmt.Sprintf("key too long: %d bytes, at most %d", len(key), MaxKeyLen))
	case !utf8.ValidString(key) || strings.ContainsRune(key, 0):
		return Invalid(key, fmt.Sprintf("invalid key %q: use UTF-8 text without NUL", key))
	}
	return nil
}

// Validate checks that exactly one expectation is set.
func (e Expect) Validate() error {
	n := 0
	if e.Absent {
		n++
	}
	if e.Revision > 0 {
		n++
	}
	if e.Value != nil {
		n++
	}
	if n != 1 || e.Revision < 0 {
		return Invalid("", "compare-and-swap: expect exactly one of: the key absent, a revision (1 or more), or a value")
	}
	return nil
}

// Registration is a registered name and the process that holds it.
type Registration struct {
	Name     string
	GPID     GPID
	Node     string
	Revision int64
}

// Endpoint is one live named port of one process.
type Endpoint struct {
	// Service is the process's group, else its name, else its GPID.
	Service string `json:"-"`
	Port    string `json:"-"`
	GPID    GPID   `json:"-"`
	Node    string `json:"node"`
	// Address is HOST:PORT on its node's advertised address.
	Address string `json:"address"`
}

// MailboxEndpoint is where a process's mailbox accepts senders, and the
// key of its tickets.
type MailboxEndpoint struct {
	GPID       GPID   `json:"-"`
	Address    string `json:"address"`
	Key        []byte `json:"key"`
	MaxMessage int64  `json:"max_message"`
}
