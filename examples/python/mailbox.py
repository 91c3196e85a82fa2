"""The receiving end of a Nefele mailbox, with the Python standard library.

Other processes, on any node, reach it by the process's GPID or a name it
registers, with the Go SDK's Send and Call, `nefele send|call`, or the
relayed MailboxService.Send and Call (see send() and call_process()
below). It speaks the protocol of sdk/mailbox (wire.go): length-prefixed
frames over TCP, a hello that carries a ticket the mailbox checks with its
key, and credit in bytes for flow control.

    import mailbox, nefele
    box = mailbox.open()              # publish this process's mailbox
    nefele.call("NameService", "Register", {"name": "py-echo"})
    while True:
        msg = box.receive()           # a Message: sender, body, reply()
        if msg.is_call:
            msg.reply(msg.body)

Delivery is at most once and one sender's messages arrive in order, as
with the Go SDK. The mailbox holds at most capacity bytes (a message costs
its length plus 64), 16 MiB unless said otherwise.
"""

import base64
import hmac
import hashlib
import os
import queue
import secrets
import socket
import struct
import threading

import nefele

# Frame types of sdk/mailbox/wire.go.
HELLO, WELCOME, REJECT, MSG, CALL, REPLY, CREDIT, BYE, WANT, WANT_REPLY, RETURN = range(1, 12)
OVERHEAD = 64  # what a message costs beyond its body, in bytes of credit
WINDOW = 256 << 10  # the room a new sender starts with


class Message:
    """One message: sender is the sender's GPID ("" for no process), body
    the bytes; when is_call, reply(bytes) answers it."""

    def __init__(self, conn, sender, body, call_id=None):
        self.sender, self.body, self.is_call = sender, body, call_id is not None
        self._conn, self._id = conn, call_id

    def reply(self, body):
        if not self.is_call:
            raise ValueError("reply to a message that is no call")
        self._conn.write(REPLY, struct.pack(">Q", self._id) + bytes(body))


class Mailbox:
    """A listening mailbox and its bounded queue; see open()."""

    def __init__(self, gpid, capacity, max_message):
        self.gpid, self.capacity, self.max_message = gpid, capacity, max_message
        self.key = secrets.token_bytes(32)
        host = (os.environ.get("NEFELE_ADDR") or nefele.DEFAULT_ADDR).rsplit(":", 1)[0]
        self._sock = socket.create_server((host, 0))
        self.address = "%s:%d" % (host, self._sock.getsockname()[1])
        self._queue = queue.Queue()
        self._lock = threading.Lock()
        self._total = 0  # bytes queued plus room granted: at most capacity
        self._wanters = []  # (connection, bytes) waiting for room
        threading.Thread(target=self._accept, daemon=True).start()

    def receive(self, timeout=None):
        """The next message; waits for one (None: for ever). Raises
        queue.Empty when timeout seconds pass first."""
        msg, conn, cost = self._queue.get(timeout=timeout)
        conn.give_back(cost)  # the room goes back to its sender
        return msg

    def _accept(self):
        while True:
            sock, _ = self._sock.accept()
            threading.Thread(target=_Conn(self, sock).serve, daemon=True).start()

    def _take(self, n):
        """Takes up to n bytes of free room and returns how many."""
        with self._lock:
            n = max(0, min(n, self.capacity - self._total))
            self._total += n
            return n

    def _take_all(self, n):
        """Takes n bytes of free room if there are as many: n, else 0."""
        with self._lock:
            if self.capacity - self._total < n:
                return 0
            self._total += n
            return n

    def _serve_wanters(self):
        """Grants room to the senders waiting for it, in order."""
        while True:
            with self._lock:
                if not self._wanters:
                    return
                conn, n = self._wanters[0]
                if conn.alive and self.capacity - self._total < n:
                    return
                self._wanters.pop(0)
                if not conn.alive:
                    continue
                self._total += n
            conn.grant(n)

    def _free(self, n):
        with self._lock:
            self._total -= n


class _Conn:
    """One sender's connection."""

    def __init__(self, box, sock):
        self.box, self.sock = box, sock
        self.file = sock.makefile("rb")
        self.wlock = threading.Lock()
        self.held = 0  # room the sender holds, guarded by hlock
        self.hlock = threading.Lock()
        self.alive = True

    def write(self, typ, payload=b""):
        with self.wlock:
            self.sock.sendall(struct.pack(">IB", 1 + len(payload), typ) + payload)

    def read(self, limit):
        head = self.file.read(5)
        if len(head) < 5:
            return None, None
        n, typ = struct.unpack(">IB", head)
        if n < 1 or n - 1 > limit:
            return None, None
        body = self.file.read(n - 1)
        return (typ, body) if len(body) == n - 1 else (None, None)

    def grant(self, n, frame=CREDIT):
        with self.hlock:
            self.held += n
        self.write(frame, struct.pack(">I", n))

    def give_back(self, cost):
        """Room of a message taken: to senders that wait for room, first
        come first served, else back to its sender while it is connected."""
        if self.alive and not self.box._wanters:
            try:
                self.grant(cost)
                return
            except OSError:
                pass  # the sender has gone: its room is the mailbox's
        self.box._free(cost)
        self.box._serve_wanters()

    def serve(self):
        box = self.box
        try:
            typ, p = self.read(4096)
            if typ != HELLO:
                return
            fields = []
            for _ in range(3):
                (n,) = struct.unpack(">H", p[:2])
                fields.append(p[2:2 + n])
                p = p[2 + n:]
            ticket, sender, to = fields[0], fields[1].decode(), fields[2].decode()
            want = hmac.new(box.key, (sender + "|" + to).encode(), hashlib.sha256).digest()
            if to != box.gpid or not hmac.compare_digest(ticket, want):
                self.write(REJECT, ("the ticket does not admit %s to the mailbox of %s" % (sender, box.gpid)).encode())
                return
            first = box._take(WINDOW)
            with self.hlock:
                self.held = first
            self.write(WELCOME, struct.pack(">II", first, box.max_message))
            while True:
                typ, p = self.read(box.max_message + 8)
                if typ is None:
                    return
                if typ in (MSG, CALL):
                    call_id = None
                    if typ == CALL:
                        (call_id,) = struct.unpack(">Q", p[:8])
                        p = p[8:]
                    cost = len(p) + OVERHEAD
                    with self.hlock:
                        if cost > self.held:
                            return  # past its room: a broken sender
                        self.held -= cost
                    box._queue.put((Message(self, sender, p, call_id), self, cost))
                elif typ == WANT:
                    n, fail_fast = struct.unpack(">IB", p)
                    if fail_fast:  # all of it now, or nothing
                        self.grant(box._take_all(n), WANT_REPLY)
                    elif box._take_all(n):
                        self.grant(n)
                    else:
                        with box._lock:
                            box._wanters.append((self, n))
                elif typ == RETURN:
                    (n,) = struct.unpack(">I", p)
                    with self.hlock:
                        n = min(n, self.held)
                        self.held -= n
                    box._free(n)
        except (OSError, struct.error):
            pass
        finally:
            with self.hlock:
                self.alive, held, self.held = False, self.held, 0
            box._free(held)
            box._serve_wanters()
            self.sock.close()


def open(capacity=16 << 20, max_message=1 << 20):
    """Opens and publishes the mailbox of this process (NEFELE_GPID, as the
    agent set it): other processes can send to it once this returns."""
    gpid = os.environ.get("NEFELE_GPID", "")
    if not gpid:
        raise nefele.Error("failed_precondition", "a mailbox belongs to a managed process: run this with nefele run", "REASON_NOT_A_PROCESS")
    box = Mailbox(gpid, capacity, max_message)
    nefele.call("MailboxService", "OpenMailbox", {"address": box.address,
                "key": base64.b64encode(box.key).decode(), "max_message_bytes": max_message})
    return box


def send(target, body, fail_fast=False, timeout_ms=0):
    """Sends body (bytes or str) to the mailbox of target, a GPID or a
    name, through the agent."""
    nefele.call("MailboxService", "Send", {"target": target, "body": nefele.b64(body),
                "fail_fast": fail_fast, "timeout_ms": timeout_ms})


def call_process(target, body, timeout_ms=0):
    """Calls target with body through the agent and returns its reply."""
    res = nefele.call("MailboxService", "Call", {"target": target, "body": nefele.b64(body), "timeout_ms": timeout_ms})
    return nefele.unb64(res.get("body"))
