"""counter.py NAME N: add 1 to a shared counter N times, under a lock.

Run it as a managed process, so that it has a NEFELE_TOKEN:

    nefele run -- python3 examples/python/counter.py counter-1 5

It registers NAME (NameService.Register), then N times: takes the lock
examples/counter (LockService.Lock, which waits while another holds it),
reads the key examples/counter (KVService.Get), writes the value plus one
with KVService.CompareAndSwap at the revision it read, and releases the
lock (LockService.Unlock). It prints each fencing token it got, and the
counter's value at the end.

The name, and the lock if the program dies holding it, belong to the
process: the agent releases them when it ends, however it ends.

Under the lock, the compare-and-swap never fails: another writer between
the read and the write would mean that two held the lock at once. The
program counts such conflicts, retries them, and prints the count.
"""

import sys

import nefele

KEY = "examples/counter"
LOCK = "examples/counter"


def read():
    """The counter's value and revision (0, 0 when the key is absent)."""
    try:
        kv = nefele.call("KVService", "Get", {"key": KEY})["kv"]
    except nefele.Error as e:
        if e.reason == "REASON_KEY_NOT_FOUND":
            return 0, 0
        raise
    return int(nefele.unb64(kv.get("value"))), int(kv["revision"])


def increment():
    """Add 1 to the counter by read and compare-and-swap; return the new
    value and how many times the swap was refused."""
    conflicts = 0
    while True:
        value, revision = read()
        req = {"key": KEY, "value": nefele.b64(str(value + 1))}
        if revision:
            req["expectRevision"] = revision
        else:
            req["expectAbsent"] = True
        if nefele.call("KVService", "CompareAndSwap", req).get("swapped"):
            return value + 1, conflicts
        conflicts += 1


def main(name, n):
    reg = nefele.call("NameService", "Register", {"name": name})["name"]
    print(f"registered {reg['name']} as {reg['gpid']} on {reg['node']}", flush=True)
    conflicts = 0
    for _ in range(n):
        lock = nefele.call("LockService", "Lock", {"name": LOCK})
        try:
            value, c = increment()
            conflicts += c
        finally:
            nefele.call("LockService", "Unlock", {"name": LOCK, "lockId": lock["lockId"]})
        print(f"token {lock['fencingToken']}: counter {value - 1} -> {value}", flush=True)
    print(f"conflicts {conflicts}")
    print(f"final value {read()[0]}")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not sys.argv[2].isdigit():
        sys.exit("usage: counter.py NAME N")
    try:
        main(sys.argv[1], int(sys.argv[2]))
    except nefele.Error as e:
        hint = ""
        if e.reason == "REASON_NOT_A_PROCESS":
            hint = f"\n(run it as a managed process: nefele run -- python3 {sys.argv[0]} NAME N)"
        sys.exit(f"counter.py: {e}{hint}")
