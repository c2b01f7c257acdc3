"""The verifier's S3 endpoint locally: radosgw, plus the one S3 call radosgw 16 cannot do.

Ceph 16 (Debian 12's radosgw) refuses ``CopyObject`` of an encrypted source with 501
``NotImplemented`` ("copy op for encrypted object ... has not been implemented"); every upload
here is SSE-KMS encrypted (the POST policy requires it), and the verifier promotes and rejects
files with server-side copies pinned to the scanned version. This process sits between the
verifier and radosgw (``AWS_ENDPOINT_URL_S3`` of the verifier only) and:

* forwards every request **verbatim** (method, path, query, headers with the ``Host`` the client
  signed, body), so radosgw checks every signature and every policy statement itself, and hands
  back radosgw's answer unchanged;
* only when radosgw answers a ``CopyObject`` (a ``PUT`` with ``x-amz-copy-source``) with 501
  ``NotImplemented`` (which it does only after authenticating the caller and authorizing both the
  source read and the destination write, ``RGWCopyObj::verify_permission``), performs that copy as
  S3 would, as the same user: ``GetObject`` of the source version with the ``x-amz-copy-source-if-*``
  conditions (-> 412 ``PreconditionFailed``, 404 ``NoSuchKey``/``NoSuchVersion`` as S3 answers),
  then ``PutObject`` of those bytes with the metadata directive (``COPY``: the source's
  ``Content-Type``, ``Content-Disposition``... and ``x-amz-meta-*``; ``REPLACE``: the request's),
  the tagging directive (``COPY``: the source version's tags; ``REPLACE``: ``x-amz-tagging`` or
  none) and the request's SSE headers; it answers S3's ``CopyObjectResult`` with
  ``x-amz-version-id`` and ``x-amz-copy-source-version-id``.

Nothing else is emulated; the edge, the API, the scanner and the tests talk to radosgw directly.
"""

from __future__ import annotations

import http.client
import json
import re
import sys
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from local.httpserver import LocalRequestHandler, run_local_server

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "content-length"})
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
#: Headers a ``MetadataDirective=REPLACE`` copy takes from the request (besides ``x-amz-meta-*``).
REPLACEABLE = {"content-type": "ContentType", "content-disposition": "ContentDisposition",
               "content-encoding": "ContentEncoding", "content-language": "ContentLanguage",
               "cache-control": "CacheControl", "expires": "Expires"}
#: The source's headers a ``MetadataDirective=COPY`` copy keeps, as GetObject returns them.
COPIED = {"ContentType", "ContentDisposition", "ContentEncoding", "ContentLanguage", "CacheControl", "Expires"}


def s3_error(code: str, message: str, status: int) -> tuple[int, bytes]:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{escape(code)}</Code>'
            f"<Message>{escape(message)}</Message></Error>").encode()
    return status, body


class Shim:
    def __init__(self, runtime: dict[str, Any]) -> None:
        upstream = urlsplit(runtime["s3"])
        self.host = upstream.hostname or "127.0.0.1"
        self.port = int(upstream.port or 80)
        self.endpoint = runtime["s3"]
        self.region = runtime["region"]
        self.users = {user["access_key"]: user for user in runtime["s3_users"].values()}
        self._clients: dict[str, Any] = {}

    def client_for(self, access_key: str) -> Any:
        if access_key not in self._clients:
            user = self.users[access_key]
            self._clients[access_key] = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=user["access_key"], aws_secret_access_key=user["secret_key"],
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                              retries={"mode": "standard", "max_attempts": 2}))
        return self._clients[access_key]

    def forward(self, method: str, path: str, headers: list[tuple[str, str]],
                body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                if name.lower() not in HOP_BY_HOP:
                    connection.putheader(name, value)
            connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body if body else None)
            response = connection.getresponse()
            data = response.read()
            return response.status, response.getheaders(), data
        finally:
            connection.close()

    def emulate_copy(self, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        """CopyObject as S3 does it, for a request radosgw authenticated and authorized."""
        match = _CREDENTIAL.search(headers.get("authorization", ""))
        if not match or match.group(1) not in self.users:
            status, body = s3_error("AccessDenied", "Access Denied", 403)
            return status, [], body
        s3 = self.client_for(match.group(1))
        bucket, _, key = unquote(urlsplit(path).path).lstrip("/").partition("/")
        source_path, _, source_query = headers["x-amz-copy-source"].partition("?")
        source_bucket, _, source_key = unquote(source_path).lstrip("/").partition("/")
        source: dict[str, Any] = {"Bucket": source_bucket, "Key": source_key}
        version = dict(parse_qsl(source_query)).get("versionId")
        if version:
            source["VersionId"] = version
        try:
            response = s3.get_object(**source, **copy_conditions(headers))
            data = response["Body"].read()
        except ClientError as error:
            status, code = error_of(error)
            if status == 304 or code == "NotModified":  # a copy condition failed: S3 answers 412
                status, code = 412, "PreconditionFailed"
            if code in {"404", "NoSuchKey"} and version:
                code = "NoSuchVersion"
            status, body = s3_error(code, "copy source: " + code, status)
            return status, [], body
        put = {"Bucket": bucket, "Key": key, "Body": data, **destination(headers, response)}
        if headers.get("x-amz-tagging-directive", "COPY").upper() == "COPY":
            tags = s3.get_object_tagging(**source).get("TagSet", [])
            if tags:
                put["Tagging"] = urlencode([(tag["Key"], tag["Value"]) for tag in tags])
        try:
            written = s3.put_object(**put)
        except ClientError as error:
            status, code = error_of(error)
            status, body = s3_error(code, "copy destination", status)
            return status, [], body
        written_headers = written["ResponseMetadata"]["HTTPHeaders"]
        modified = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        result = (f'<?xml version="1.0" encoding="UTF-8"?><CopyObjectResult '
                  f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>{modified}'
                  f"</LastModified><ETag>{escape(written['ETag'])}</ETag></CopyObjectResult>").encode()
        out = [("Content-Type", "application/xml")]
        if written.get("VersionId"):
            out.append(("x-amz-version-id", written["VersionId"]))
        if response.get("VersionId"):
            out.append(("x-amz-copy-source-version-id", response["VersionId"]))
        out.extend((name, written_headers[name]) for name in (
            "x-amz-server-side-encryption", "x-amz-server-side-encryption-aws-kms-key-id") if written_headers.get(name))
        print(json.dumps({"level": "info", "message": "CopyObject emulated (encrypted source)",
                          "source_version": response.get("VersionId"), "bytes": len(data)}), flush=True)
        return 200, out, result


def error_of(error: ClientError) -> tuple[int, str]:
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 500)
    return status, str(error.response.get("Error", {}).get("Code") or "InternalError")


def copy_conditions(headers: dict[str, str]) -> dict[str, str]:
    """``x-amz-copy-source-if-*`` as GetObject's conditions on the source."""
    names = {"x-amz-copy-source-if-match": "IfMatch", "x-amz-copy-source-if-none-match": "IfNoneMatch",
             "x-amz-copy-source-if-modified-since": "IfModifiedSince",
             "x-amz-copy-source-if-unmodified-since": "IfUnmodifiedSince"}
    return {argument: headers[header] for header, argument in names.items() if header in headers}


def destination(headers: dict[str, str], source: dict[str, Any]) -> dict[str, Any]:
    """PutObject arguments for the copy: the metadata directive's headers, the tagging directive's
    tags when they are the request's, and the request's SSE headers."""
    put: dict[str, Any] = {}
    if headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE":
        put.update({argument: headers[name] for name, argument in REPLACEABLE.items() if name in headers})
        put["Metadata"] = {name[len("x-amz-meta-"):]: value for name, value in headers.items()
                           if name.startswith("x-amz-meta-")}
    else:
        put.update({name: source[name] for name in COPIED if source.get(name)})
        put["Metadata"] = dict(source.get("Metadata") or {})
    if headers.get("x-amz-tagging-directive", "COPY").upper() == "REPLACE" and headers.get("x-amz-tagging"):
        put["Tagging"] = headers["x-amz-tagging"]
    if headers.get("x-amz-server-side-encryption"):
        put["ServerSideEncryption"] = headers["x-amz-server-side-encryption"]
    if headers.get("x-amz-server-side-encryption-aws-kms-key-id"):
        put["SSEKMSKeyId"] = headers["x-amz-server-side-encryption-aws-kms-key-id"]
    return put


def make_handler(shim: Shim) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-s3-shim"

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._body()
            headers = list(self.headers.items())
            status, reply_headers, data = shim.forward(self.command, self.path, headers, body)
            lowered = {name.lower(): value for name, value in headers}
            if (self.command == "PUT" and "x-amz-copy-source" in lowered and "uploadid" not in self.path.lower()
                    and status == 501 and b"NotImplemented" in data):
                status, reply_headers, data = shim.emulate_copy(self.path, lowered)
            self.send_response(status)
            for name, value in reply_headers:
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            length = {name.lower(): value for name, value in reply_headers}.get("content-length")
            if self.command == "HEAD" and length is not None:
                self.send_header("Content-Length", length)
            else:
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD" and data:
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

    return Handler


def main(argv: list[str] | None = None) -> int:
    return run_local_server(argv, name="local S3 copy shim", make_handler=lambda runtime: make_handler(Shim(runtime)))


if __name__ == "__main__":
    sys.exit(main())
