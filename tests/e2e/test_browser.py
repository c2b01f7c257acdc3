"""The demo page in headless Chromium (Debian's ``chromium``, driven by Playwright).

Logs in as a demo user, uploads a file (presigned POST from the browser, with the progress
bar), watches it being verified, finds it in her list (GET /files) under its original name,
downloads it through the signed URL once it is clean and checks the bytes, sees an HTML file
posing as a PDF rejected with the reason in plain words (in the list too, and never offered for
download), sees the refusal of an oversize file in plain words, and saves a
screenshot to tests/e2e/artifacts/.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.conftest import Local, watch_page
from tests.e2e.helpers import upload_file
from tests.unit import samples

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
    "--no-first-run", "--disable-component-update", "--disable-sync",
]
# A .docx: Chromium saves it (a PDF it would show in its viewer, since the local S3 keeps no
# Content-Disposition from a POST; see local/README.md).
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
CV = samples.ooxml(samples.DOCX, text="a CV uploaded from the browser")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        import playwright.sync_api as playwright_api
    except ImportError:  # the browser test is part of "done": never let it vanish silently
        pytest.fail("playwright is not installed: run `make setup`")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `bash local/install.sh`")
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def browser_context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (its own cookie jar) per test."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1100, "height": 1000})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def browser_page(browser_context: Any) -> Any:
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    watch_page(page)
    return page


def log_in(page: Any, local: Local, user: str, label: str) -> None:
    page.goto(local.demo)
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#user", user)
    page.click("#login-button")
    page.wait_for_selector(f"#whoami:has-text('Logged in as {label}')")


def test_demo_page_upload_download_and_refusal(local: Local, browser_page: Any, artifacts: Path) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    # Given the demo page, logged in as Alice (careers)
    page.goto(local.demo)
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#user", "alice")
    page.click("#login-button")
    page.wait_for_selector("#whoami:has-text('Logged in as Alice')")

    # When she uploads her CV
    page.select_option("#rule", "cv")
    page.set_input_files("#file", {"name": "My CV.docx", "mimeType": DOCX, "buffer": CV})
    page.click("#upload-button")
    # Then the progress bar is full, and the page shows the file being checked, then verified
    page.wait_for_selector("#verifications li[data-status=clean]")
    page.wait_for_selector("#upload-status:has-text('My CV.docx is verified and ready to download')")
    assert page.eval_on_selector("#progress", "el => el.value") == 100
    # And only now is it offered for download (and listed among her files)
    key = page.locator("#verifications li[data-status=clean] button.download").get_attribute("data-key")
    assert key and key.startswith("private/users/") and "/cv/" in key and key.endswith(".docx")
    page.wait_for_selector(f'#file-list button.download[data-key="{key}"]')
    button = page.locator(f'#file-list button.download[data-key="{key}"]')
    # (GET /files: under her original file name, with its status in plain words)
    row = page.locator(f'#file-list tr:has(button.download[data-key="{key}"])')
    assert row.locator(".filename").inner_text() == "My CV.docx"
    assert row.locator(".status").inner_text() == "Verified"

    # When she downloads it, Then the browser saves exactly her bytes, fetched through the signed URL
    with page.expect_download() as download_info:
        button.click()
    download = download_info.value
    assert download.url.startswith(local.edge) and "Signature=" in download.url and "Key-Pair-Id=" in download.url
    saved = Path(download.path()).read_bytes()
    assert hashlib.sha256(saved).hexdigest() == hashlib.sha256(CV).hexdigest()

    # When she uploads an HTML page named and declared as a PDF (issue 8's evil.pdf)
    page.goto(local.demo)  # the download navigated; come back as a user would
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#user", "alice")
    page.click("#login-button")
    page.wait_for_selector("#whoami:has-text('Logged in as Alice')")
    page.select_option("#rule", "cv")
    page.set_input_files("#file", {"name": "evil.pdf", "mimeType": "application/pdf",
                                   "buffer": samples.HTML_PAYLOAD})
    page.click("#upload-button")
    # Then it is rejected, with the reason in plain words, and never offered for download
    rejected = page.locator("#verifications li[data-status=rejected]")
    rejected.wait_for()
    assert "evil.pdf was rejected: its content is not the type it was declared as" in rejected.inner_text()
    assert rejected.locator("button.download").count() == 0
    evil_key = rejected.get_attribute("data-key")
    assert evil_key and page.locator(f'button.download[data-key="{evil_key}"]').count() == 0
    # And her list shows it rejected, with the reason
    evil_row = page.locator(f'#file-list tr[data-file-id="{rejected.get_attribute("data-file-id")}"]')
    evil_row.wait_for()
    assert evil_row.locator(".filename").inner_text() == "evil.pdf"
    assert evil_row.locator(".status").inner_text() == "Rejected: its content is not the type it was declared as"

    # When she tries a file larger than the rule allows, Then she is told so in plain words
    oversize = b"%PDF-" + b"\0" * (10 * 1024 * 1024 + 1)
    page.set_input_files("#file", {"name": "huge.pdf", "mimeType": "application/pdf", "buffer": oversize})
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:has-text('too large')")
    assert "10 MB" in page.inner_text("#upload-error")
    assert page.locator("button.download").count() >= 1  # her CV is still listed

    page.screenshot(path=str(artifacts / "demo-page.png"), full_page=True)
    assert not errors, errors


def test_cookies_for_my_files_open_them_at_plain_urls_through_one_origin(
        local: Local, browser_context: Any, browser_page: Any, artifacts: Path) -> None:
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    seen: list[str] = []
    browser_context.on("request", lambda request: seen.append(request.url))
    demo_users = {user["id"]: user for user in requests.get(f"{local.issuer}/demo-users", timeout=10).json()["users"]}
    alice, carol = demo_users["alice"], demo_users["carol"]
    prefix = f"private/users/{alice['sub']}/"
    # Given a file of Carol's (another user's prefix), uploaded and verified
    carols = upload_file(local, local.token(user="carol"), "cv", samples.ooxml(samples.DOCX, text="Carol's CV"), DOCX)
    assert carols.startswith(f"private/users/{carol['sub']}/")

    # Given Alice on the demo page, who uploads her CV (every API call through {api})
    log_in(page, local, "alice", "Alice")
    page.select_option("#rule", "cv")
    page.set_input_files("#file", {"name": "Cookie CV.docx", "mimeType": DOCX, "buffer": CV})
    page.click("#upload-button")
    page.wait_for_selector("#verifications li[data-status=clean]")
    key = page.locator("#verifications li[data-status=clean]").get_attribute("data-key")
    assert key and key.startswith(prefix)
    # And no Open link yet: she holds no cookies
    assert page.locator(f'a.open-with-cookies[data-key="{key}"]').count() == 0

    # When she gets cookies for her files (POST {api}/downloads/cookies, credentials included)
    assert page.locator("#cookie-prefix").input_value() == prefix
    page.click("#cookies-button")
    page.wait_for_selector("#cookies-status:has-text('signed cookies for')")
    assert not page.inner_text("#cookies-error")

    # Then the browser holds CloudFront's four cookies for the edge's host: HttpOnly, Secure,
    # SameSite=Lax, scoped to her prefix, session cookies, host-only
    held = [cookie for cookie in browser_context.cookies() if cookie["name"].startswith("CloudFront-")]
    assert {cookie["name"] for cookie in held} == {"CloudFront-Policy", "CloudFront-Signature",
                                                   "CloudFront-Key-Pair-Id", "CloudFront-Hash-Algorithm"}, held
    for cookie in held:
        assert cookie["httpOnly"] is True and cookie["secure"] is True, cookie
        assert cookie["sameSite"] == "Lax", cookie
        assert cookie["path"] == f"/{prefix}", cookie
        assert cookie["domain"] == urlsplit(local.edge).hostname, cookie  # no Domain attribute: host-only
        assert cookie["expires"] == -1, cookie  # a session cookie: the policy inside expires
    # And they are the ones a request under her prefix carries, and no other path's
    assert {cookie["name"] for cookie in browser_context.cookies(f"{local.edge}/{prefix}cv/x.docx")} >= {
        cookie["name"] for cookie in held}
    assert not [cookie for cookie in browser_context.cookies(f"{local.edge}/private/users/{carol['sub']}/cv/x.docx")
                if cookie["name"].startswith("CloudFront-")]
    # (scripts cannot read them: httpOnly above; the JSON body still carries their values for
    # non-browser clients, as DESIGN.md decision 5 has it)

    # When she opens her file from the list: a plain URL on the edge, no signature
    link = page.locator(f'a.open-with-cookies[data-key="{key}"]')
    link.wait_for()
    assert "?" not in (link.get_attribute("href") or "")
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    # Then the edge served exactly her bytes on the strength of the cookies
    assert download.url == f"{local.edge}/{key}"
    assert hashlib.sha256(Path(download.path()).read_bytes()).digest() == hashlib.sha256(CV).digest()

    # When the same browser asks for a file under another user's prefix, Then it is refused
    other = page.goto(f"{local.edge}/{carols}")
    assert other is not None and other.status == 403
    # And a path outside her prefix is refused too
    outside = page.goto(f"{local.edge}/private/orgs/acme/registration/anything.pdf")
    assert outside is not None and outside.status == 403
    # And on a page of the edge under her prefix (the request carried the cookies), a script gets
    # none of them: the edge's CSP sandboxes its documents, so document.cookie is refused outright
    under = page.goto(f"{local.edge}/{prefix}not-a-file.txt")
    assert under is not None and under.status == 403
    assert "CloudFront-Signature=" in (under.request.header_value("cookie") or "")
    read = page.evaluate("() => { try { return document.cookie; } catch (error) { return `refused: ${error.name}`; } }")
    assert read == "refused: SecurityError", read

    # And every API call and download of the page went to the edge's origin, none to the API itself
    edge_origin = local.edge
    backend_root = local.backend_api.removesuffix("/api")
    assert not [url for url in seen if url.startswith(backend_root)], seen
    api_or_files = [url for url in seen if urlsplit(url).path.startswith(("/api/", "/private/", "/public/"))]
    assert any(url.startswith(f"{local.api}/downloads/cookies") for url in api_or_files), seen
    assert all(url.startswith(edge_origin + "/") for url in api_or_files), api_or_files
    assert not errors, errors
