package lintest

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// exchange is a call and its answer, for the tests of the checks.
type exchange struct {
	in  kvInput
	out kvOutput
}

// op is an operation of client 0.
func op(call, ret int64, c exchange) porcupine.Operation {
	return porcupine.Operation{Input: c.in, Call: call, Output: c.out, Return: ret}
}

func get(key, v string) exchange { return exchange{kvInput{op: opGet, key: key}, kvOutput{value: v}} }

func put(key, v string) exchange { return exchange{kvInput{op: opPut, key: key, value: v}, kvOutput{}} }

func cas(key, from, to string, swapped bool, now string) exchange {
	return exchange{kvInput{op: opCAS, key: key, expect: from, value: to}, kvOutput{swapped: swapped, value: now}}
}

// unknown is c with its outcome unknown.
func unknown(c exchange) exchange { return exchange{c.in, kvOutput{unknown: true}} }

// TestKVModel checks the model on small histories, so that a workload
// that passes is known to be able to fail.
func TestKVModel(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		ok      bool
	}{
		{"stale read", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, put("x", "b")), op(4, 5, get("x", "a")),
		}, false},
		{"read concurrent with a write", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 5, put("x", "b")), op(3, 4, get("x", "a")),
		}, true},
		{"read of a value never written", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, get("x", "c")),
		}, false},
		{"read of an absent key after a write", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, get("x", "")),
		}, false},
		{"keys are apart", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, put("y", "b")), op(4, 5, get("x", "a")), op(4, 5, get("y", "b")),
		}, true},
		{"swap", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, cas("x", "a", "b", true, "b")), op(4, 5, get("x", "b")),
		}, true},
		{"swap of a stale value", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, put("x", "b")), op(4, 5, cas("x", "a", "c", true, "c")),
		}, false},
		{"failed swap that should have swapped", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, cas("x", "a", "b", false, "a")),
		}, false},
		{"failed swap that shows a stale value", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, put("x", "b")), op(4, 5, cas("x", "c", "d", false, "a")),
		}, false},
		{"swap from absent", []porcupine.Operation{
			op(0, 1, cas("x", "", "a", true, "a")), op(2, 3, get("x", "a")),
		}, true},
		{"unknown write that applied", []porcupine.Operation{
			op(0, never, unknown(put("x", "a"))), op(2, 3, get("x", "a")),
		}, true},
		{"unknown write that did not apply", []porcupine.Operation{
			op(0, never, unknown(put("x", "a"))), op(2, 3, get("x", "")),
		}, true},
		{"unknown write seen, then unseen", []porcupine.Operation{
			op(0, never, unknown(put("x", "a"))), op(2, 3, get("x", "a")), op(4, 5, get("x", "")),
		}, false},
		{"unknown swap that could not apply", []porcupine.Operation{
			op(0, 1, put("x", "a")), op(2, 3, put("x", "b")), op(4, never, unknown(cas("x", "a", "c", false, ""))), op(6, 7, get("x", "c")),
		}, false},
	}
	for _, tt := range tests {
		if got := porcupine.CheckOperations(kvModel, tt.history); got != tt.ok {
			t.Errorf("%s: linearizable %v, want %v", tt.name, got, tt.ok)
		}
	}
}

// TestCheckHoldings checks the lock checks on small sets of holdings.
func TestCheckHoldings(t *testing.T) {
	hold := func(token, call, locked, unlock int64, clean bool) holding {
		return holding{token: token, call: call, locked: locked, unlock: unlock, unlockd: unlock + 1, clean: clean}
	}
	tests := []struct {
		name     string
		holdings []holding
		bad      bool
	}{
		{"one after the other", []holding{hold(10, 0, 1, 2, true), hold(11, 0, 3, 4, true), hold(12, 2, 5, 6, true)}, false},
		{"overlap", []holding{hold(10, 0, 1, 5, true), hold(11, 0, 3, 6, true)}, true},
		{"overlap after a failed unlock", []holding{hold(10, 0, 1, 5, false), hold(11, 0, 3, 6, true)}, false},
		{"one token twice", []holding{hold(10, 0, 1, 2, true), hold(10, 0, 3, 4, true)}, true},
		{"tokens against time", []holding{hold(11, 0, 1, 2, false), hold(10, 3, 4, 5, false)}, true},
		{"the later, clean, before the earlier", []holding{hold(11, 0, 1, 2, true), hold(10, 0, 3, 4, true)}, true},
	}
	for _, tt := range tests {
		if errs := checkHoldings(tt.holdings); (len(errs) > 0) != tt.bad {
			t.Errorf("%s: violations %v, want some: %v", tt.name, errs, tt.bad)
		}
	}
}
