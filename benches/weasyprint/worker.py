"""A persistent WeasyPrint worker for benches/documents.rs.

Reads requests from stdin and answers on stdout, so that the benchmark
measures rendering, not Python's start-up: each request is a 4-byte
big-endian length and that many bytes of UTF-8 HTML; each answer is a 4-byte
length and the PDF bytes (length 0 on an error, the error on stderr).
"""
import struct
import sys
import traceback

import weasyprint


def main():
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    base = sys.argv[1] if len(sys.argv) > 1 else None
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack(">I", head)
        html = stdin.read(n).decode("utf-8")
        try:
            pdf = weasyprint.HTML(string=html, base_url=base).write_pdf()
        except Exception:  # noqa: BLE001 - reported to the bench, which fails
            traceback.print_exc(file=sys.stderr)
            pdf = b""
        stdout.write(struct.pack(">I", len(pdf)))
        stdout.write(pdf)
        stdout.flush()


if __name__ == "__main__":
    main()
