"""A real SMTP server for the SMTP transport's tests (aiosmtpd, from PyPI).

Usage: python smtp_sink.py PORT MAILDIR [tls=starttls|implicit] [refuse-first=N]

Accepts mail on 127.0.0.1:PORT and writes each message's bytes to
MAILDIR/<n>.eml, with the envelope in MAILDIR/<n>.env. Scripted answers by
recipient, for the failure cases:
  nobody@…  -> 550 5.1.1 (permanent)
  busy@…    -> 451 4.3.0 (transient)

Faults and TLS, by option:
  refuse-first=N  -> the first N messages get 451 4.3.2 after their data
                     (a server that is busy, then delivers)
  tls=starttls    -> STARTTLS offered and required before MAIL
  tls=implicit    -> TLS from the first byte (port 465 style)
With tls, a test CA and a certificate for "localhost" and 127.0.0.1 are
made at start (the `cryptography` package, which moto brings), and the CA
is written to MAILDIR/ca.pem for the client to trust.

Authentication (accepted over plain connections too, as tests run on
loopback): AUTH PLAIN and LOGIN accept any password, AUTH XOAUTH2 (Gmail's
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
    def __init__(self, maildir, refuse_first=0):
        self.maildir = maildir
        self.refuse_left = refuse_first

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user here"
        if address.startswith("busy@"):
            return "451 4.3.0 mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.refuse_left > 0:
            self.refuse_left -= 1
            return "451 4.3.2 system busy, try again later"
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


def tls_context(maildir):
    """A test CA, a server certificate it signs, and the server's context."""
    import datetime
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    validity = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1))

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("TMS test CA"))
        .issuer_name(name("TMS test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(validity[0])
        .not_valid_after(validity[1])
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(maildir, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    cert_path = os.path.join(maildir, "server.pem")
    key_path = os.path.join(maildir, "server.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


async def main():
    port, maildir = int(sys.argv[1]), sys.argv[2]
    options = dict(arg.split("=", 1) for arg in sys.argv[3:])
    tls = options.get("tls")
    extra = {}
    if tls == "starttls":
        extra = {"tls_context": tls_context(maildir), "require_starttls": True}
    elif tls == "implicit":
        extra = {"ssl_context": tls_context(maildir)}
    elif tls is not None:
        sys.exit(f"unknown tls={tls}")
    controller = Controller(
        Sink(maildir, int(options.get("refuse-first", "0"))),
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=accept_any_password,
        **extra,
    )
    controller.start()
    print("ready", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    asyncio.run(main())
