"""Thin adapters that authorise ``/backend/*`` calls: SigV4 in AWS (service ``execute-api``, the
verifier role's session), the local backend key locally (it stands for IAM, ``X-Local-Backend-Key``).
Both send JSON and return the ``requests`` response unchanged: the checks judge it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

#: The service name HTTP APIs sign for (docs/front-door.md: a backend signs for execute-api).
EXECUTE_API = "execute-api"


def _encoded(body: Any) -> bytes | None:
    return None if body is None else json.dumps(body, separators=(",", ":")).encode()


@dataclass(frozen=True)
class SigV4Backend:
    """``/backend/*`` on execute-api, signed with a boto3 session's current credentials."""

    base_url: str
    session: Any  # boto3.Session
    region: str
    timeout: float = 30.0

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        url = f"{self.base_url.rstrip('/')}{path}"
        data = _encoded(body)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        credentials = self.session.get_credentials()
        if credentials is None:
            raise RuntimeError("no AWS credentials to sign the backend call with")
        signed = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), EXECUTE_API, self.region).add_auth(signed)
        return requests.request(method, url, data=data, headers=dict(signed.headers.items()), timeout=self.timeout)


@dataclass(frozen=True)
class LocalKeyBackend:
    """``/backend/*`` on the local API, with the local backend key in its header."""

    base_url: str
    header: str
    key: str
    timeout: float = 30.0

    def request(self, method: str, path: str, body: Any = None) -> requests.Response:
        url = f"{self.base_url.rstrip('/')}{path}"
        data = _encoded(body)
        headers = {self.header: self.key}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return requests.request(method, url, data=data, headers=headers, timeout=self.timeout)
