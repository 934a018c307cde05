"""A real SMTP server for the SMTP transport's tests (aiosmtpd, from PyPI).

Usage: python smtp_sink.py PORT MAILDIR

Accepts mail on 127.0.0.1:PORT and writes each message's bytes to
MAILDIR/<n>.eml, with the envelope in MAILDIR/<n>.env. Scripted answers by
recipient, for the failure cases:
  nobody@…  -> 550 5.1.1 (permanent)
  busy@…    -> 451 4.3.0 (transient)
"""

import asyncio
import itertools
import os
import sys

from aiosmtpd.controller import Controller

counter = itertools.count(1)


class Sink:
    def __init__(self, maildir):
        self.maildir = maildir

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(counter)
        path = os.path.join(self.maildir, f"{n}.eml")
        with open(path + ".partial", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(os.path.join(self.maildir, f"{n}.env"), "w") as f:
            f.write(envelope.mail_from + "\n" + "\n".join(envelope.rcpt_tos) + "\n")
        os.rename(path + ".partial", path)
        return f"250 2.0.0 Ok: queued as SINK{n}"


async def main():
    port, maildir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(main())
