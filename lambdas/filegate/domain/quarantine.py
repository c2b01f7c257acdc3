"""Where an upload lives before and after verification (docs/verification.md).

A presigned POST writes ``incoming/<final key>``; only the scanner and the verifier read there.
The verifier copies a clean file to its final key and a rejected one to ``rejected/<final key>``,
which nobody but a named security role reads and which expires by lifecycle. No access rule can
name either prefix: rule templates start with ``private/`` or ``public/``.
"""

from __future__ import annotations

import re

QUARANTINE_PREFIX = "incoming/"
REJECTED_PREFIX = "rejected/"
#: The server-chosen id that ends every final key: ``<file_id>.<extension>``.
FILE_ID = re.compile(r"[0-9a-f]{32}")
_FILE_NAME = re.compile(r"(?P<file_id>[0-9a-f]{32})\.[a-z0-9]{1,8}")


def quarantine_key(final_key: str) -> str:
    return QUARANTINE_PREFIX + final_key


def rejected_key(final_key: str) -> str:
    return REJECTED_PREFIX + final_key


def final_key_of(quarantined: str) -> str | None:
    """The final key a quarantined object is for, or None for anything outside the quarantine."""
    if not quarantined.startswith(QUARANTINE_PREFIX):
        return None
    final = quarantined[len(QUARANTINE_PREFIX):]
    return final if final.startswith(("private/", "public/")) and file_id_of(final) else None


def file_id_of(key: str) -> str | None:
    """The file id a final key ends with, or None when its last segment is not ``<id>.<ext>``."""
    match = _FILE_NAME.fullmatch(key.rpartition("/")[2])
    return match["file_id"] if match else None
