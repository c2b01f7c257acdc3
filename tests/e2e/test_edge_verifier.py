"""The edge's CloudFront verifier against URLs signed here, from CloudFront's documentation.

These need no local mode: the signer below is a third implementation (RSA and ECDSA keys,
SHA-1 and SHA-256, canned and custom policies, signed cookies), written from the
"Create a signed URL using a canned/custom policy" pages, so the verifier is checked against
more than the one signer the Lambda uses.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from local.cloudfront_verify import Denied, authorize, load_key_group, split_query

pytestmark = pytest.mark.e2e

NOW = 1_800_000_000
URL = "https://d111111abcdef8.cloudfront.net/private/users/u1/cv/a.pdf"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


GROUP = load_key_group({"KRSA": pem(RSA_KEY), "KEC": pem(EC_KEY)})


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode().replace("+", "-").replace("=", "_").replace("/", "~")


def sign(key: Any, data: bytes, hash_name: str) -> bytes:
    algorithm = hashes.SHA1() if hash_name == "SHA1" else hashes.SHA256()
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), algorithm)
    return key.sign(data, ec.ECDSA(algorithm))


def canned(url: str, expires: int, key: Any, key_id: str, hash_name: str | None = "SHA256") -> str:
    policy = f'{{"Statement":[{{"Resource":"{url}","Condition":{{"DateLessThan":{{"AWS:EpochTime":{expires}}}}}}}]}}'
    query = f"Expires={expires}&Signature={b64(sign(key, policy.encode(), hash_name or 'SHA1'))}&Key-Pair-Id={key_id}"
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}{query}" + (f"&Hash-Algorithm={hash_name}" if hash_name else "")


def custom(statement: dict[str, Any], key: Any, key_id: str, hash_name: str = "SHA256", url: str = URL) -> str:
    policy = json.dumps({"Statement": [statement]}).encode()  # white space is fine in a custom policy
    return (f"{url}?Policy={b64(policy)}&Signature={b64(sign(key, policy, hash_name))}&Key-Pair-Id={key_id}"
            f"&Hash-Algorithm={hash_name}")


def check(signed: str, *, now: int = NOW, ip: str = "198.51.100.7", cookies: dict[str, str] | None = None) -> str:
    base, _, raw_query = signed.partition("?")
    query, signing = split_query(raw_query)
    url = base + (f"?{query}" if query else "")
    return authorize(url=url, signing=signing, cookies=cookies or {}, key_group=GROUP, now=now, source_ip=ip)


@pytest.mark.parametrize(("key", "key_id"), [(RSA_KEY, "KRSA"), (EC_KEY, "KEC")])
@pytest.mark.parametrize("hash_name", ["SHA1", "SHA256", None])
def test_canned_policies_verify_for_both_key_types_and_hashes(key: Any, key_id: str, hash_name: str | None) -> None:
    assert check(canned(URL, NOW + 60, key, key_id, hash_name)) == key_id


def test_canned_policy_expiry_is_exclusive() -> None:
    signed = canned(URL, NOW + 60, EC_KEY, "KEC")
    assert check(signed, now=NOW + 59) == "KEC"
    with pytest.raises(Denied, match="expired"):
        check(signed, now=NOW + 60)


def test_other_query_parameters_are_part_of_the_canned_resource() -> None:
    signed = canned(URL + "?size=large", NOW + 60, RSA_KEY, "KRSA")
    assert check(signed) == "KRSA"
    with pytest.raises(Denied):
        check(signed.replace("size=large", "size=small"))


def test_a_hash_mismatch_fails() -> None:
    signed = canned(URL, NOW + 60, RSA_KEY, "KRSA", "SHA1").replace("Hash-Algorithm=SHA1", "Hash-Algorithm=SHA256")
    with pytest.raises(Denied, match="bad-signature"):
        check(signed)
    with pytest.raises(Denied, match="unsupported-hash"):
        check(signed.replace("Hash-Algorithm=SHA256", "Hash-Algorithm=MD5"))


def test_custom_policy_wildcards_start_time_and_ip() -> None:
    statement = {"Resource": "https://d111111abcdef8.cloudfront.net/private/users/u1/*",
                 "Condition": {"DateLessThan": {"AWS:EpochTime": NOW + 60},
                               "DateGreaterThan": {"AWS:EpochTime": NOW - 10},
                               "IpAddress": {"AWS:SourceIp": "198.51.100.0/24"}}}
    signed = custom(statement, EC_KEY, "KEC")
    assert check(signed) == "KEC"
    other_file = signed.replace("/cv/a.pdf", "/certificates/b.png")
    assert check(other_file) == "KEC"  # the wildcard covers the whole prefix
    with pytest.raises(Denied, match="resource-mismatch"):
        check(signed.replace("/users/u1/", "/users/u2/"))
    with pytest.raises(Denied, match="ip-mismatch"):
        check(signed, ip="203.0.113.9")
    with pytest.raises(Denied, match="not-yet-valid"):
        check(signed, now=NOW - 11)


def test_single_character_wildcard() -> None:
    statement = {"Resource": URL.replace("a.pdf", "?.pdf"), "Condition": {"DateLessThan": {"AWS:EpochTime": NOW + 1}}}
    assert check(custom(statement, RSA_KEY, "KRSA")) == "KRSA"
    with pytest.raises(Denied):
        check(custom(statement, RSA_KEY, "KRSA", url=URL.replace("a.pdf", "ab.pdf")))


def test_a_custom_policy_needs_date_less_than() -> None:
    with pytest.raises(Denied, match="date-less-than"):
        check(custom({"Resource": URL, "Condition": {}}, EC_KEY, "KEC"))


def test_a_policy_signed_by_a_key_outside_the_group_fails() -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Denied, match="bad-signature"):
        check(canned(URL, NOW + 60, stranger, "KEC"))
    with pytest.raises(Denied) as denied:
        check(canned(URL, NOW + 60, stranger, "KSTRANGER"))
    assert denied.value.code == "InvalidKey" and denied.value.message == "Unknown Key"


def test_missing_key_pair_id() -> None:
    with pytest.raises(Denied) as denied:
        check(URL)
    assert denied.value.code == "MissingKey"


def test_signed_cookies_and_url_parameters_take_precedence() -> None:
    policy = json.dumps({"Statement": [{"Resource": "https://d111111abcdef8.cloudfront.net/private/users/u1/*",
                                        "Condition": {"DateLessThan": {"AWS:EpochTime": NOW + 60}}}]}).encode()
    cookies = {"CloudFront-Policy": b64(policy), "CloudFront-Signature": b64(sign(RSA_KEY, policy, "SHA1")),
               "CloudFront-Key-Pair-Id": "KRSA"}
    assert check(URL, cookies=cookies) == "KRSA"
    with pytest.raises(Denied, match="expired"):
        check(URL, cookies=cookies, now=NOW + 60)
    # a (bad) signed URL wins over good cookies
    with pytest.raises(Denied):
        check(canned(URL, NOW + 60, ec.generate_private_key(ec.SECP256R1()), "KEC"), cookies=cookies)


def test_the_lambdas_signer_verifies_here() -> None:
    """The minting Lambda's signer (filegate.domain.cloudfront) against this verifier."""
    from filegate.domain.cloudfront import SigningKey, signed_url

    key = SigningKey(sign=lambda message: EC_KEY.sign(message, ec.ECDSA(hashes.SHA256())), key_pair_id="KEC")
    assert check(signed_url(URL, expires=NOW + 5, key=key)) == "KEC"
    assert check(signed_url(URL, expires=NOW + 5, key=key, starts=NOW - 1, ip_range="198.51.100.7/32")) == "KEC"


def test_percent_encoded_signing_parameters_are_decoded_first() -> None:
    # Given a valid URL whose Signature has its '~' and '-' percent-encoded by some client
    signed = canned(URL, NOW + 60, EC_KEY, "KEC")
    base, _, query = signed.partition("?")
    encoded = "&".join(
        f"{name}={value.replace('~', '%7E').replace('-', '%2D')}" if name == "Signature" else f"{name}={value}"
        for name, _, value in (part.partition("=") for part in query.split("&")))
    # Then it verifies exactly as CloudFront would (it reads query parameters URL-decoded)
    assert check(f"{base}?{encoded}") == "KEC"


def test_the_verifier_shares_no_code_with_the_signer() -> None:
    # The edge checks the minting code; importing it would let one bug hide in both.
    import ast
    from pathlib import Path

    import local.cloudfront_verify as verifier

    tree = ast.parse(Path(verifier.__file__).read_text())
    imported = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert not any(name == "filegate" or name.startswith("filegate.") for name in imported)
