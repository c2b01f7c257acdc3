"""ClamAV's daemon for the local mode: configuration, a client, and the start-up self-check.

clamd (Debian's ``clamav-daemon``) runs offline with the signature files kept in the repo
(``local/clamav/``): freshclam cannot reach its servers here, and nothing is downloaded.

* ``eicar.ndb``: the EICAR test signature, as hex only (the EICAR string itself is never kept in
  the repo as a plain file; ``eicar_bytes()`` builds it at run time and checks its well-known MD5).
* ``testfiles.hdb``: ``md5:size:name`` of every file of Debian's ``clamav-testfiles`` package
  (regenerate with ``python -m local.clamd hashes``; the test files themselves are not committed).

At start-up the local mode copies ``local/clamav/`` into its data folder, writes ``clamd.conf``
there (``Foreground yes``, a Unix socket in the data folder, no freshclam, ``AlertExceedsMax`` and
``AlertEncrypted`` on so that a file clamd could not scan whole is never reported clean), starts
clamd under the local mode's ``Supervisor`` and runs ``self_check``: ``PING`` must answer ``PONG``,
a clean buffer must scan ``OK``, EICAR must be ``FOUND`` (and one Debian test file, when the package
is installed). A scanner that cannot find EICAR fails the start, loudly.
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import shutil
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

SIGNATURES = Path(__file__).resolve().parent / "clamav"
EICAR_SIGNATURE_NAME = "Eicar-Test-Signature"
#: The EICAR test file's published MD5 (eicar.org): proves ``eicar.ndb`` holds the real string.
EICAR_MD5 = "44d88612fea8a8f36de82e1278abb02f"
DEBIAN_TESTFILES = Path("/usr/share/clamav-testfiles")
TESTFILE_SIGNATURE_PREFIX = "Filegate.ClamAVTestFile."
#: Our limits, above every rule's max_bytes; a bigger stream is refused by clamd (-> UNSUPPORTED).
STREAM_MAX_BYTES = 64 * 1024 * 1024
CHUNK = 64 * 1024
#: A Unix socket path must fit in sockaddr_un (108 bytes with the NUL); longer: TCP on loopback.
MAX_SOCKET_PATH = 100


class ClamdError(RuntimeError):
    """clamd could not be reached, or answered something that is not a verdict."""


class SelfCheckFailed(RuntimeError):
    """The scanner does not do what it must (find EICAR, pass a clean file): never run like that."""


def eicar_bytes() -> bytes:
    """The 68-byte EICAR test string, built from the hex signature in ``eicar.ndb``."""
    for line in (SIGNATURES / "eicar.ndb").read_text().splitlines():
        name, _target, _offset, hex_signature = line.strip().split(":", 3)
        if name == EICAR_SIGNATURE_NAME:
            data = bytes.fromhex(hex_signature)
            if hashlib.md5(data).hexdigest() != EICAR_MD5:  # noqa: S324 - a published checksum, not security
                raise SelfCheckFailed("local/clamav/eicar.ndb does not hold the EICAR test string")
            return data
    raise SelfCheckFailed(f"local/clamav/eicar.ndb has no {EICAR_SIGNATURE_NAME} signature")


def signature_count(directory: Path = SIGNATURES) -> int:
    return sum(1 for path in directory.glob("*.[hn]db") for line in path.read_text().splitlines() if line.strip())


def debian_testfile_hashes(source: Path = DEBIAN_TESTFILES) -> list[str]:
    """``.hdb`` lines (``md5:size:name``, as ``sigtool --md5`` writes them) for Debian's test files."""
    lines = []
    for path in sorted(source.iterdir()):
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.md5(data).hexdigest()  # noqa: S324 - ClamAV's .hdb format is MD5
            lines.append(f"{digest}:{len(data)}:{TESTFILE_SIGNATURE_PREFIX}{path.name}")
    return lines


# --- client ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One scan's answer: ``clean``, ``infected`` (with the signature) or ``unscannable`` (clamd
    refused the stream, or hit a limit, an encrypted part...): never a guess."""

    outcome: str  # "clean" | "infected" | "unscannable"
    signature: str | None = None
    detail: str = ""


#: Signatures clamd reports when it could not scan a file whole (AlertExceedsMax, AlertEncrypted):
#: GuardDuty calls those objects UNSUPPORTED, never clean.
UNSCANNABLE_SIGNATURES = ("Heuristics.Limits.Exceeded", "Heuristics.Encrypted")


class ClamdClient:
    """clamd's ``z``-prefixed (NUL-terminated) commands over a Unix socket or TCP."""

    def __init__(self, address: str, *, timeout: float = 30.0) -> None:
        self.address = address
        self.timeout = timeout

    def _connect(self) -> socket.socket:
        kind, _, where = self.address.partition(":")
        try:
            if kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                sock.connect(where)
            elif kind == "tcp":
                host, _, port = where.rpartition(":")
                sock = socket.create_connection((host, int(port)), timeout=self.timeout)
            else:
                raise ClamdError(f"unknown clamd address {self.address!r}")
        except OSError as error:
            raise ClamdError(f"clamd unreachable at {self.address}: {error}") from error
        return sock

    @staticmethod
    def _answer(sock: socket.socket) -> str:
        data = b""
        while not data.endswith(b"\0"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        if not data:
            raise ClamdError("clamd closed the connection without an answer")
        return data.rstrip(b"\0").decode("utf-8", "replace").strip()

    def command(self, name: str) -> str:
        with self._connect() as sock:
            try:
                sock.sendall(b"z" + name.encode() + b"\0")
                return self._answer(sock)
            except OSError as error:
                raise ClamdError(f"clamd {name}: {error}") from error

    def ping(self) -> bool:
        try:
            return self.command("PING") == "PONG"
        except ClamdError:
            return False

    def version(self) -> str:
        return self.command("VERSION")

    def instream(self, chunks: Iterable[bytes]) -> Verdict:
        """Stream bytes to clamd (``INSTREAM``) and read its verdict. Raises ``ClamdError`` when
        there is none (unreachable, cut off, an answer that is no verdict)."""
        with self._connect() as sock:
            try:
                sock.sendall(b"zINSTREAM\0")
                for chunk in chunks:
                    for start in range(0, len(chunk), CHUNK):
                        part = chunk[start:start + CHUNK]
                        sock.sendall(struct.pack(">I", len(part)) + part)
                sock.sendall(struct.pack(">I", 0))
                answer = self._answer(sock)
            except (BrokenPipeError, ConnectionResetError):
                # clamd stops reading once a stream passes StreamMaxLength; its answer says so.
                answer = self._answer(sock)
            except OSError as error:
                raise ClamdError(f"clamd INSTREAM: {error}") from error
        return parse_answer(answer)

    def scan_bytes(self, data: bytes) -> Verdict:
        return self.instream([data])


def parse_answer(answer: str) -> Verdict:
    """``stream: OK`` / ``stream: <signature> FOUND`` / ``... ERROR`` (clamd's INSTREAM answers)."""
    _, _, result = answer.partition(": ")
    if result == "OK":
        return Verdict("clean", detail=answer)
    if result.endswith(" FOUND"):
        signature = result[: -len(" FOUND")].strip()
        if signature.startswith(UNSCANNABLE_SIGNATURES):
            return Verdict("unscannable", signature=signature, detail=answer)
        return Verdict("infected", signature=signature, detail=answer)
    if answer.endswith("ERROR"):
        # "INSTREAM size limit exceeded. ERROR" and the like: clamd did not scan it.
        return Verdict("unscannable", detail=answer)
    raise ClamdError(f"clamd answered {answer!r}")


# --- daemon ---------------------------------------------------------------------------------


class Clamd:
    """clamd's configuration and signature folder under the local mode's data folder."""

    def __init__(self, root: Path, *, log_file: Path, tcp_port: int | None = None) -> None:
        self.root = root
        self.log_file = log_file
        self.database = root / "db"
        self.conf = root / "clamd.conf"
        socket_path = root / "clamd.sock"
        self.tcp_port = tcp_port if len(str(socket_path)) > MAX_SOCKET_PATH else None
        self.socket_path = None if self.tcp_port else socket_path
        if self.socket_path is None and self.tcp_port is None:
            raise ValueError("the clamd socket path is too long and no TCP port was given")

    @property
    def address(self) -> str:
        return f"unix:{self.socket_path}" if self.socket_path else f"tcp:127.0.0.1:{self.tcp_port}"

    def prepare(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.database.mkdir(parents=True)
        copied = 0
        for path in sorted(SIGNATURES.glob("*.[hn]db")):
            shutil.copy2(path, self.database / path.name)
            copied += 1
        if not copied or signature_count(self.database) == 0:
            raise SelfCheckFailed(f"no signatures in {SIGNATURES}: an empty database is an error, never a scanner")
        listen = (f"LocalSocket {self.socket_path}\nLocalSocketMode 600\nFixStaleSocket yes\n" if self.socket_path
                  else f"TCPSocket {self.tcp_port}\nTCPAddr 127.0.0.1\n")
        self.conf.write_text(f"""# Generated by the local mode; thrown away on the next start. No freshclam: the
# signatures are the repo's (local/clamav/), copied here.
DatabaseDirectory {self.database}
OfficialDatabaseOnly no
{listen}Foreground yes
LogFile {self.log_file}
LogTime yes
LogClean no
PidFile {self.root}/clamd.pid
TemporaryDirectory {self.root}
SelfCheck 0
ConcurrentDatabaseReload no
MaxThreads 4
MaxConnectionQueueLength 30
ReadTimeout 30
CommandReadTimeout 10
StreamMaxLength {STREAM_MAX_BYTES // (1024 * 1024)}M
MaxFileSize {STREAM_MAX_BYTES // (1024 * 1024)}M
MaxScanSize {4 * STREAM_MAX_BYTES // (1024 * 1024)}M
# A file clamd cannot scan whole is reported (Heuristics.Limits.Exceeded / Heuristics.Encrypted),
# never passed as clean: the scanner maps those to UNSUPPORTED.
AlertExceedsMax yes
AlertEncrypted yes
ScanArchive yes
ScanPDF yes
ScanOLE2 yes
""")

    def argv(self) -> list[str]:
        return ["clamd", "--config-file", str(self.conf), "--foreground"]

    def client(self, timeout: float = 30.0) -> ClamdClient:
        return ClamdClient(self.address, timeout=timeout)

    def wait_ready(self, timeout: float, *, alive: Callable[[], None] | None = None) -> None:
        client = self.client(timeout=2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if alive is not None:
                alive()
            if client.ping():
                return
            time.sleep(0.05)
        raise ClamdError(f"clamd did not answer PING within {timeout:.0f} s at {self.address}")


def self_check(client: ClamdClient) -> dict[str, str]:
    """PING/PONG, a clean buffer scans OK, EICAR (and one Debian test file, when installed) are
    FOUND. Raises ``SelfCheckFailed`` with what went wrong; returns what was checked."""
    checked: dict[str, str] = {}
    if not client.ping():
        raise SelfCheckFailed(f"clamd at {client.address} does not answer PING with PONG")
    checked["version"] = client.version()
    clean = b"filegate local scanner self-check: a clean buffer " + secrets.token_hex(16).encode()
    verdict = client.scan_bytes(clean)
    if verdict.outcome != "clean":
        raise SelfCheckFailed(f"a clean buffer did not scan OK: {verdict.detail}")
    checked["clean"] = verdict.detail
    eicar = eicar_bytes()
    for label, data in (("eicar", eicar), ("eicar-in-pdf", b"%PDF-1.4\n% " + eicar + b"\n%%EOF\n")):
        verdict = client.scan_bytes(data)
        if verdict.outcome != "infected" or not (verdict.signature or "").startswith(EICAR_SIGNATURE_NAME):
            raise SelfCheckFailed(f"clamd did not find EICAR ({label}): {verdict.detail!r}; refusing to run a "
                                  "scanner that cannot find the test signature")
        checked[label] = verdict.detail
    sample = DEBIAN_TESTFILES / "clam.exe"
    if sample.is_file():
        verdict = client.scan_bytes(sample.read_bytes())
        if verdict.outcome != "infected":
            raise SelfCheckFailed(f"clamd did not find {sample} (local/clamav/testfiles.hdb): {verdict.detail!r}")
        checked["clamav-testfiles"] = verdict.detail
    return checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.clamd", description="local ClamAV helpers")
    sub = parser.add_subparsers(dest="command", required=True)
    hashes = sub.add_parser("hashes", help="rewrite local/clamav/testfiles.hdb from Debian's clamav-testfiles")
    hashes.add_argument("--source", type=Path, default=DEBIAN_TESTFILES)
    args = parser.parse_args(argv)
    if args.command == "hashes":
        if not args.source.is_dir():
            raise SystemExit(f"{args.source} is missing: apt-get install clamav-testfiles")
        lines = debian_testfile_hashes(args.source)
        (SIGNATURES / "testfiles.hdb").write_text("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} hashes to {SIGNATURES / 'testfiles.hdb'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
