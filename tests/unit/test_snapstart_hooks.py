"""SnapStart's after-restore hooks, by a snapshot and two restores simulated in process.

A "snapshot" is the state init left (``random``'s state, the runtime built with the init's
credentials); a "restore" puts that state back, gives the environment its own credentials, and
runs the hooks the handler modules registered with ``snapshot_restore_py`` (the library Lambda's
Python runtimes run them with). Oracles: ``random``'s own state, the clients' credentials as
botocore holds them, object identity of caches, and cryptography's verification of signatures.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
import snapshot_restore_py
from conftest import REGION, FakeContext, Minting, api_event, body, careers, filegate_env, put_record
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from filegate.adapters.secret_signer import load_signing_key, sign_with
from filegate.handlers import snapshot

CV_KEY = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"


def after_restore_hooks() -> list[Callable[[], None]]:
    """What the runtime would call after a restore, in registration order."""
    return [lambda function=function, args=args, kwargs=kwargs: function(*args, **kwargs)  # type: ignore[misc]
            for function, args, kwargs in snapshot_restore_py.get_after_restore()]


def restore(snapshot_state: Any, monkeypatch: pytest.MonkeyPatch, *, access_key: str) -> None:
    """One restored environment: init's memory back, its own credentials, then the hooks."""
    random.setstate(snapshot_state)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", f"secret-of-{access_key}")
    for hook in after_restore_hooks():
        hook()


def access_key_of(client: Any) -> str:
    return str(client._request_signer._credentials.access_key)


@pytest.fixture
def secret_signer(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Minting]:
    """The download handler with the local-key signer (an ECDSA P-256 PEM in Secrets Manager)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="filegate/signing", SecretString=pem)
    env = filegate_env(secret_name="filegate/signing", signer="secret", FILEGATE_SIGNATURE_CACHE_SECONDS="60")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    Minting.reset()
    yield Minting(env=env)
    Minting.reset()


def test_every_api_handler_registers_its_hooks() -> None:
    # Given the API handler modules imported (as init imports them)
    from filegate.handlers import deletions, downloads, files, uploads
    # When the runtime asks for its after-restore hooks
    registered = [function for function, _, _ in snapshot_restore_py.get_after_restore()]
    # Then random is reseeded and each module's runtime is rebuilt
    assert snapshot.reseed_random in registered
    rebuilt = {function.__closure__[0].cell_contents for function in registered  # type: ignore[index]
               if function.__name__ == "after_restore" and function.__closure__}
    assert {uploads.runtime, downloads.runtime, files.runtime, deletions.runtime} <= rebuilt


def test_two_restores_of_one_snapshot_draw_different_random_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a snapshot of random's state
    state = random.getstate()
    # When restored twice without the hooks, both draw the same numbers (what the hooks prevent)
    random.setstate(state)
    first = random.random()
    random.setstate(state)
    assert random.random() == first
    # When restored twice with the hooks
    draws = []
    for _ in range(2):
        random.setstate(state)
        for function, args, kwargs in snapshot_restore_py.get_after_restore():
            if function is snapshot.reseed_random:  # the rest rebuild runtimes (tested below)
                function(*args, **kwargs)
        draws.append(random.random())
    # Then each environment has its own sequence
    assert draws[0] != draws[1]


def test_a_restored_environment_signs_with_the_credentials_it_has(minting: Minting,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Given init built the download runtime with the snapshot's credentials
    from filegate.handlers import downloads, uploads
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "SNAPSHOTKEY")
    Minting.reset()
    at_init = downloads.runtime()
    uploads_at_init = uploads.runtime()
    assert access_key_of(at_init.files._client) == "SNAPSHOTKEY"
    # When restored as two environments, each with its own credentials
    seen = []
    for access_key in ("RESTOREDONE", "RESTOREDTWO"):
        restore(random.getstate(), monkeypatch, access_key=access_key)
        rebuilt = downloads.runtime()
        # Then every client reads the credentials the environment has, not the snapshot's
        assert rebuilt is not at_init
        assert access_key_of(rebuilt.files._client) == access_key
        assert access_key_of(uploads.runtime().files._client) == access_key
        seen.append(rebuilt)
    assert uploads.runtime() is not uploads_at_init
    assert seen[0] is not seen[1]


def test_a_restored_environment_starts_with_empty_caches(secret_signer: Minting,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an environment that minted before the snapshot (its signature cache holds an entry)
    from filegate.handlers import downloads
    put_record(CV_KEY)
    event = api_event("/downloads", {"key": CV_KEY}, claims=careers("alice"))
    assert downloads.handler(event, FakeContext())["statusCode"] == 200
    before = downloads.runtime()
    assert len(before.signer.cache._entries) == 1  # type: ignore[attr-defined]
    # When restored
    restore(random.getstate(), monkeypatch, access_key="RESTORED")
    after = downloads.runtime()
    # Then its signature cache, origin secret and signing secret reader are its own, empty ones
    assert after.signer is not before.signer and len(after.signer.cache._entries) == 0  # type: ignore[attr-defined]
    assert after.origin is not before.origin
    # And it still mints, and the URL it mints verifies
    response = downloads.handler(event, FakeContext())
    assert response["statusCode"] == 200 and body(response)["url"].startswith("https://")


def test_the_local_key_signer_is_deterministic_rfc6979() -> None:
    # Given RFC 6979's P-256 key and message "sample" (appendix A.2.5)
    private = ec.derive_private_key(int("C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721", 16),
                                    ec.SECP256R1())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    # When signed with SHA-256 by the local-key signer
    signature = sign_with(load_signing_key(pem), b"sample")
    # Then it is the RFC's signature (so the nonce came from the key and message, not a RNG)
    assert decode_dss_signature(signature) == (
        int("EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716", 16),
        int("F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8", 16))


@settings(max_examples=25, deadline=None)
@given(message=st.binary(max_size=512), seed=st.integers())
def test_no_signature_depends_on_random_state(message: bytes, seed: int) -> None:
    # Given one key, and random's state set to anything (as a restore would leave it)
    key = load_signing_key(_PEM)
    random.seed(seed)
    first = sign_with(key, message)
    random.seed(seed + 1)
    # When the same message is signed again / Then the signature is the same and it verifies
    assert sign_with(key, message) == first
    _PUBLIC.verify(first, message, ec.ECDSA(hashes.SHA256()))


_PRIVATE = ec.generate_private_key(ec.SECP256R1())
_PEM = _PRIVATE.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())
_PUBLIC = _PRIVATE.public_key()


def test_hooks_are_not_registered_where_the_runtime_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given an interpreter without snapshot_restore_py (a local mode that never restores)
    import builtins
    real_import = builtins.__import__

    def no_hooks(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "snapshot_restore_py":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_hooks)
    calls: list[int] = []

    class Runtime:
        def __call__(self) -> None:
            calls.append(1)

        def cache_clear(self) -> None:
            calls.append(0)

    registered = len(snapshot_restore_py.get_after_restore())
    # When a module registers / Then nothing is registered and nothing runs
    assert snapshot.after_restore(Runtime()) is False
    assert calls == [] and len(snapshot_restore_py.get_after_restore()) == registered
