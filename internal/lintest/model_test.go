package lintest

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// clock gives the times of a history: nanoseconds since it was made, read
// from the monotonic clock that every client of the test process shares.
type clock struct{ start time.Time }

func newClock() clock { return clock{start: time.Now()} }

func (c clock) now() int64 { return int64(time.Since(c.start)) }

// never is the Return of a write whose outcome its client never learned:
// porcupine may then place it anywhere after its call, or not at all (a
// write that did not apply is one placed after every other operation).
const never = math.MaxInt64

type opKind int

const (
	opGet opKind = iota
	opPut
	opCAS
)

// kvInput is one call on one key. Values are unique and never empty, so
// "" stands for an absent key.
type kvInput struct {
	op     opKind
	key    string
	value  string // put, cas: the value written
	expect string // cas: the value expected ("": absent)
}

// kvOutput is what the call returned.
type kvOutput struct {
	unknown bool   // a write whose outcome is unknown (Return is never)
	value   string // get: the value read; cas: the key after the call ("": absent)
	swapped bool   // cas
}

// kvModel is a register per key: the state of a partition is the key's
// value, "" when absent.
var kvModel = porcupine.Model{
	Partition: byKey,
	Init:      func() any { return "" },
	Step:      stepKV,
	DescribeOperation: func(input, output any) string {
		return describeKV(input.(kvInput), output.(kvOutput))
	},
	DescribeState: func(state any) string { return show(state.(string)) },
}

// stepKV is the sequential specification of Get, Put and CompareAndSwap
// with the key as the SDK returns it after the call.
func stepKV(state, input, output any) (bool, any) {
	s, in, out := state.(string), input.(kvInput), output.(kvOutput)
	switch in.op {
	case opGet:
		return out.value == s, s
	case opPut:
		return true, in.value
	}
	next := s
	if s == in.expect {
		next = in.value
	}
	if out.unknown {
		return true, next
	}
	return out.swapped == (s == in.expect) && out.value == next, next
}

// byKey partitions a history by key: a history is linearizable if and
// only if each key's is.
func byKey(history []porcupine.Operation) [][]porcupine.Operation {
	var keys []string
	parts := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(kvInput).key
		if _, ok := parts[k]; !ok {
			keys = append(keys, k)
		}
		parts[k] = append(parts[k], op)
	}
	out := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		out = append(out, parts[k])
	}
	return out
}

func show(v string) string {
	if v == "" {
		return "absent"
	}
	return v
}

func describeKV(in kvInput, out kvOutput) string {
	switch in.op {
	case opGet:
		return fmt.Sprintf("get(%s) → %s", in.key, show(out.value))
	case opPut:
		if out.unknown {
			return fmt.Sprintf("put(%s, %s) → ?", in.key, in.value)
		}
		return fmt.Sprintf("put(%s, %s)", in.key, in.value)
	}
	if out.unknown {
		return fmt.Sprintf("cas(%s, %s→%s) → ?", in.key, show(in.expect), in.value)
	}
	return fmt.Sprintf("cas(%s, %s→%s) → %v, %s", in.key, show(in.expect), in.value, out.swapped, show(out.value))
}

// history is the operations of every client of a workload. Safe for
// concurrent use.
type history struct {
	mu      sync.Mutex // guards the fields below
	ops     []porcupine.Operation
	unknown int // writes kept with Return never
	dropped int // reads that failed, and calls that never reached an agent
	failed  failures
}

// add adds op; err says why it failed, when it did.
func (h *history) add(op porcupine.Operation, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, op)
	if op.Return == never {
		h.unknown++
		h.failed.add(err)
	}
}

// drop counts a failed call that the history leaves out.
func (h *history) drop(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropped++
	h.failed.add(err)
}

// okAfter counts the operations that returned, with an answer, after t.
func (h *history) okAfter(t int64) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, op := range h.ops {
		if op.Return != never && op.Call > t {
			n++
		}
	}
	return n
}

// checkTimeout bounds porcupine's search; a history it cannot decide in
// that time fails the test rather than passing unchecked.
const checkTimeout = 30 * time.Second

// checkLinearizable checks the history with porcupine and fails the test
// unless it is linearizable, writing the visualization of a failure to a
// file that outlives the test (t.TempDir would remove it).
func checkLinearizable(t *testing.T, h *history) {
	t.Helper()
	h.mu.Lock()
	ops, unknown, dropped, failed := h.ops, h.unknown, h.dropped, h.failed
	h.mu.Unlock()
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(kvModel, ops, checkTimeout)
	t.Logf("porcupine: %s for %d operations (%d writes of unknown outcome; %d failed calls dropped) in %v",
		res, len(ops), unknown, dropped, time.Since(start).Round(time.Millisecond))
	failed.log(t, "failed KV calls")
	if res == porcupine.Ok {
		return
	}
	f, err := os.CreateTemp("", "nefele-lintest-"+strings.ReplaceAll(t.Name(), "/", "_")+"-*.html")
	if err == nil {
		err = porcupine.Visualize(kvModel, info, f)
		f.Close()
	}
	if err != nil {
		t.Errorf("visualize the history: %v", err)
	} else {
		t.Logf("visualization of the history: %s", f.Name())
	}
	if res == porcupine.Unknown {
		t.Fatalf("porcupine could not decide the history within %v", checkTimeout)
	}
	t.Fatalf("the KV history is not linearizable (%d operations)", len(ops))
}
