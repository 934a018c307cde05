"""Prints the MIME structure of a message as JSON, as a mail reader sees it.

Usage: python3 mime_tree.py MESSAGE.eml

Parsed with Python's standard `email` package (policy `default`: RFC 5322
and RFC 2047 headers decoded, RFC 2045 bodies decoded) -- an independent
parser, so that the tests check what a reader gets, not what the composer
meant. Standard library only: any python3 runs it.
"""

import hashlib
import json
import sys
from email import policy
from email.parser import BytesParser


def node(part):
    out = {
        "type": part.get_content_type(),
        "params": {k: v for k, v in part.get_params(header="content-type")[1:]}
        if part.get_params(header="content-type")
        else {},
        "disposition": part.get_content_disposition(),
        "filename": part.get_filename(),
    }
    if part.is_multipart():
        out["children"] = [node(p) for p in part.iter_parts()]
        return out
    payload = part.get_payload(decode=True) or b""
    out["size"] = len(payload)
    out["sha256"] = hashlib.sha256(payload).hexdigest()
    out["head"] = payload[:8].decode("latin-1")
    if part.get_content_maintype() == "text":
        out["text"] = payload.decode(part.get_content_charset() or "utf-8")
    return out


def main():
    with open(sys.argv[1], "rb") as f:
        message = BytesParser(policy=policy.default).parse(f)
    headers = {}
    for name, value in message.items():
        headers.setdefault(name, str(value))
    print(json.dumps({"headers": headers, "defects": [str(d) for d in message.defects], "tree": node(message)}))


if __name__ == "__main__":
    main()
