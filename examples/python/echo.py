"""echo.py NAME: registers NAME and answers every call with the bytes it
was sent; a plain message it prints. The Python twin of examples/echo.

    nefele run -- python3 $PWD/examples/python/echo.py py-echo
    nefele call py-echo hello        # prints hello
"""

import sys

import mailbox
import nefele


def main():
    if len(sys.argv) != 2:
        print("usage: echo.py NAME", file=sys.stderr)
        return 2
    box = mailbox.open()
    reg = nefele.call("NameService", "Register", {"name": sys.argv[1]})
    print("echo.py: registered", sys.argv[1], "as", reg["name"]["gpid"], flush=True)
    while True:
        msg = box.receive()
        if msg.is_call:
            msg.reply(msg.body)
        else:
            print("from %s: %s" % (msg.sender or "-", msg.body.decode(errors="replace")), flush=True)


if __name__ == "__main__":
    sys.exit(main())
