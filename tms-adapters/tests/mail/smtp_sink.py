"""A real SMTP server for the SMTP transport's tests (aiosmtpd, from PyPI).

Usage: python smtp_sink.py PORT MAILDIR

Accepts mail on 127.0.0.1:PORT and writes each message's bytes to
MAILDIR/<n>.eml, with the envelope in MAILDIR/<n>.env. Scripted answers by
recipient, for the failure cases:
  nobody@…  -> 550 5.1.1 (permanent)
  busy@…    -> 451 4.3.0 (transient)

Authentication (over the plain loopback connection, as tests run without
TLS): AUTH PLAIN and LOGIN accept any password, AUTH XOAUTH2 (Gmail's
mechanism: base64 of "user=U\x01auth=Bearer T\x01\x01") accepts any token
except "expired-token" (535, as Gmail answers a stale token). Each
message's MAILDIR/<n>.auth holds what its session logged in with:
"PLAIN user password" or "XOAUTH2 user token" (empty: no login).
"""

import asyncio
import base64
import itertools
import os
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

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
        with open(os.path.join(self.maildir, f"{n}.auth"), "w") as f:
            f.write(getattr(session, "tms_login", "") or "")
        os.rename(path + ".partial", path)
        return f"250 2.0.0 Ok: queued as SINK{n}"

    async def auth_XOAUTH2(self, server, args):
        # lettre sends the initial response on the AUTH line.
        if len(args) < 2:
            return AuthResult(success=False, handled=False, message="501 5.5.2 initial response required")
        try:
            text = base64.b64decode(args[1].encode(), validate=True).decode()
        except Exception:
            return AuthResult(success=False, handled=False, message="501 5.5.2 Can't decode base64")
        fields = dict(
            part.split("=", 1) for part in text.split("\x01") if "=" in part
        )
        user = fields.get("user", "")
        token = fields.get("auth", "").removeprefix("Bearer ")
        if not user or not token or token == "expired-token":
            return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")
        server.session.tms_login = f"XOAUTH2 {user} {token}"
        return AuthResult(success=True, auth_data=user)


def accept_any_password(server, session, envelope, mechanism, auth_data):
    if isinstance(auth_data, LoginPassword):
        session.tms_login = (
            f"{mechanism} {auth_data.login.decode()} {auth_data.password.decode()}"
        )
        return AuthResult(success=True, auth_data=auth_data)
    return AuthResult(success=False, handled=False)


async def main():
    port, maildir = int(sys.argv[1]), sys.argv[2]
    controller = Controller(
        Sink(maildir),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=accept_any_password,
    )
    controller.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(main())
