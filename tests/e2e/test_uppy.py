"""The Uppy example (local/demo/uppy.html: @uppy/core + @uppy/aws-s3, bundled by esbuild) and the
demo page's file list (GET /files, paging, Delete), in headless Chromium.

* Offline, against the demo server alone with the network mocked by Playwright: the bundle loads
  under the demo's CSP, Uppy's AwsS3 plugin asks filegate's POST /uploads for each file (rule, type,
  size, original name) and POSTs exactly the minted fields, then the file, to the minted URL; the
  page then follows GET /files/{id} until the file is clean; Uppy's restrictions refuse a file the
  rule refuses before anything is minted.
* Against the local mode: two files uploaded through the Uppy page (real POSTs to radosgw) become
  clean; the demo page lists them with their original names, pages through them, and deletes one
  with its Delete button; the API then answers 404 for it (and 204 for a repeated DELETE).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from local.demo_server import BUILD_DIR, make_demo_server
from tests.e2e.conftest import Local, watch_page
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_FLAGS, DOCX
from tests.unit import samples

pytestmark = [pytest.mark.browser]

BUNDLE = BUILD_DIR / "uppy.js"
UPPY_VERSION = "6.3.1"  # package.json pins @uppy/core and @uppy/aws-s3


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    try:
        import playwright.sync_api as playwright_api
    except ImportError:  # the browser test is part of "done": never let it vanish silently
        pytest.fail("playwright is not installed: run `make setup`")
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `bash local/install.sh`")
    if not BUNDLE.is_file():
        pytest.fail(f"{BUNDLE} is not built: run `make setup-local` (or `node local/demo/build.mjs`)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium_browser: Any) -> Iterator[Any]:
    browser_context = chromium_browser.new_context(viewport={"width": 1100, "height": 1000})
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # CSP violations and failed module loads are reported as console errors
    page.on("console", lambda message: problems.append(f"console: {message.text}") if message.type == "error" else None)
    page.problems = problems
    watch_page(page)  # every answer from the local front door is checked against docs/openapi.json
    try:
        yield page
    finally:
        browser_context.close()


# --- offline: the demo server alone, the API and S3 mocked ---------------------------------------

FAKE = {name: f"http://{name}.filegate.test" for name in ("issuer", "s3", "edge")}
# One front door (docs/front-door.md): the API is the edge's /api, the only API origin the demo's CSP allows.
FAKE["api"] = f"{FAKE['edge']}/api"
CV_RULE = {"name": "cv", "key_template": "private/users/{sub}/cv/{file}", "groups": ["careers"],
           "actions": ["upload", "download", "delete"], "content_types": ["application/pdf"], "max_bytes": 4096}


@pytest.fixture
def demo_alone() -> Iterator[str]:
    config = {**FAKE, "env": "test", "bucket": "files",
              "users": [{"id": "alice", "label": "Alice (careers)", "sub": "sub-alice", "groups": ["careers"]}],
              "rules": [CV_RULE]}
    server = make_demo_server(0, config, FAKE)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def multipart_parts(body: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(name, value) of each part of a multipart/form-data body, in order."""
    boundary = re.search(r"boundary=(.+)", content_type)
    assert boundary, content_type
    parts = []
    for chunk in body.split(b"--" + boundary.group(1).encode())[1:-1]:
        head, _, value = chunk.strip(b"\r\n").partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        assert name, head
        parts.append((name.group(1).decode(), value))
    return parts


def test_uppy_bundle_signs_through_filegate_and_posts_the_minted_form(page: Any, demo_alone: str) -> None:
    seen: dict[str, Any] = {"uploads": [], "s3": [], "polls": 0}
    cors = {"Access-Control-Allow-Origin": demo_alone, "Access-Control-Allow-Headers": "authorization,content-type",
            "Access-Control-Allow-Methods": "GET,POST,DELETE,OPTIONS"}
    final_key = "private/users/sub-alice/cv/0123abcd.pdf"

    def api(route: Any) -> None:
        request = route.request
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
        elif request.method == "POST" and request.url == f"{FAKE['api']}/uploads":
            assert request.headers["authorization"] == "Bearer t0ken"
            seen["uploads"].append(json.loads(request.post_data))
            route.fulfill(status=201, headers=cors, content_type="application/json", body=json.dumps({
                "file_id": "f-1", "key": final_key, "url": f"{FAKE['s3']}/files",
                "fields": {"key": f"incoming/{final_key}", "Content-Type": "application/pdf",
                           "success_action_status": "201", "policy": "cG9saWN5", "x-amz-signature": "5ig"},
                "expires_at": int(time.time()) + 600, "max_bytes": 4096}))
        elif request.method == "GET" and request.url == f"{FAKE['api']}/files/f-1":
            seen["polls"] += 1
            status = "verifying" if seen["polls"] < 3 else "clean"
            route.fulfill(status=200, headers=cors, content_type="application/json", body=json.dumps({
                "file_id": "f-1", "key": final_key, "rule": "cv", "filename": "My CV.pdf",
                "content_type": "application/pdf", "size": 300, "status": status, "created_at": 1700000000}))
        else:
            route.fulfill(status=404, headers=cors, content_type="application/json",
                          body=json.dumps({"error": {"code": "not_found", "message": request.url}}))

    def s3(route: Any) -> None:
        request = route.request
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers=cors)
            return
        seen["s3"].append((request.url, request.headers["content-type"], request.post_data_buffer))
        # as the bucket's CORS rule answers (stacks/constructs/storage.py)
        headers = {**cors, "ETag": '"e"', "Access-Control-Expose-Headers": "ETag,Location"}
        route.fulfill(status=201, headers=headers, content_type="application/xml",
                      body=f"<PostResponse><Key>incoming/{final_key}</Key></PostResponse>")

    page.route(f"{FAKE['api']}/**", api)
    page.route(f"{FAKE['s3']}/**", s3)
    page.route(f"{FAKE['issuer']}/**", lambda route: route.fulfill(
        status=200, headers=cors, content_type="application/json", body='{"access_token": "t0ken"}'))

    # Given the Uppy page, served with the demo's CSP
    response = page.goto(f"{demo_alone}/uppy.html")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("body[data-ready=true]")
    # Then the bundle is Uppy's pinned version, with the AwsS3 plugin
    assert page.get_attribute("body", "data-uppy") == UPPY_VERSION
    assert page.get_attribute("body", "data-aws-s3") == UPPY_VERSION
    page.select_option("#user", "alice")
    page.click("#login-button")
    page.wait_for_selector("#whoami:has-text('Logged in as Alice')")

    # When Alice uploads a PDF through Uppy
    pdf = samples.pdf(text="uploaded by Uppy")[:300].ljust(300, b" ")
    page.set_input_files("#file", {"name": "My CV.pdf", "mimeType": "application/pdf", "buffer": pdf})
    page.click("#upload-button")
    # Then the page follows the file's check to the end
    page.wait_for_selector("#uppy-files li[data-status=clean]")
    item = page.locator("#uppy-files li[data-status=clean]")
    assert "My CV.pdf is verified and ready to download" in item.inner_text()
    assert item.get_attribute("data-file-id") == "f-1" and item.get_attribute("data-key") == final_key
    assert page.eval_on_selector("#progress", "el => el.value") == 100
    # And the plugin asked filegate for the upload, declaring the file as it is
    assert seen["uploads"] == [{"rule": "cv", "content_type": "application/pdf", "size": 300, "filename": "My CV.pdf"}]
    # And POSTed exactly the minted fields, in order, then the file (last), to the minted URL
    (url, content_type, body), = seen["s3"]
    assert url == f"{FAKE['s3']}/files" and content_type.startswith("multipart/form-data")
    parts = multipart_parts(body, content_type)
    assert [name for name, _ in parts] == ["key", "Content-Type", "success_action_status", "policy",
                                           "x-amz-signature", "file"]
    assert parts[0][1] == f"incoming/{final_key}".encode() and parts[-1][1] == pdf

    # When she chooses a file over the rule's limit, Then Uppy refuses it before anything is minted
    page.set_input_files("#file", {"name": "big.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-" + b"0" * 5000})
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:has-text('big.pdf')")
    assert len(seen["uploads"]) == 1
    # And a type the rule does not take is refused too
    page.set_input_files("#file", {"name": "page.html", "mimeType": "text/html", "buffer": b"<p>hi</p>"})
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:has-text('page.html')")
    assert len(seen["uploads"]) == 1
    assert not page.problems, page.problems


def test_demo_page_lists_pages_and_deletes_with_the_api_mocked(page: Any, demo_alone: str) -> None:
    cors = {"Access-Control-Allow-Origin": demo_alone}
    records = [
        {"file_id": f"f-{n}", "key": f"private/users/sub-alice/cv/{n}.pdf", "rule": "cv", "filename": f"CV {n}.pdf",
         "content_type": "application/pdf", "size": 1000 + n, "status": "clean", "created_at": 1700000000 + n}
        for n in (5, 4, 3)]
    records[1].update(status="rejected", reason="active_content")
    deleted: list[str] = []
    queries: list[str] = []

    def api(route: Any) -> None:
        request = route.request
        path, _, query = request.url.removeprefix(FAKE["api"]).partition("?")
        if request.method == "OPTIONS":
            route.fulfill(status=204, headers={**cors, "Access-Control-Allow-Headers": "authorization",
                                               "Access-Control-Allow-Methods": "GET,DELETE"})
        elif request.method == "GET" and path == "/files":
            queries.append(query)
            live = [record for record in records if record["file_id"] not in deleted]
            start = 2 if "cursor=c-2" in query else 0
            body = {"files": live[start:start + 2], "next_cursor": "c-2" if start == 0 and len(live) > 2 else None}
            route.fulfill(status=200, headers=cors, content_type="application/json", body=json.dumps(body))
        elif request.method == "DELETE" and path.startswith("/files/"):
            assert request.headers["authorization"] == "Bearer t0ken" and not request.post_data
            deleted.append(path.removeprefix("/files/"))
            route.fulfill(status=204, headers=cors)
        else:
            route.fulfill(status=404, headers=cors, content_type="application/json",
                          body=json.dumps({"error": {"code": "not_found", "message": request.url}}))

    # (the edge's route first: Playwright tries the last registered first, and the API is under the edge)
    page.route(f"{FAKE['edge']}/**", lambda route: route.fulfill(status=404, headers=cors, body=""))
    page.route(f"{FAKE['api']}/**", api)
    page.route(f"{FAKE['issuer']}/**", lambda route: route.fulfill(
        status=200, headers=cors, content_type="application/json", body='{"access_token": "t0ken"}'))

    # Given Alice's files, two a page
    page.goto(f"{demo_alone}/?page_size=2")
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#user", "alice")
    page.click("#login-button")
    row = page.locator('#file-list tr[data-file-id="f-5"]')
    row.wait_for()
    assert queries == ["limit=2"]
    # Then each shows its original name, its status in plain words, its size and date
    assert row.locator(".filename").inner_text() == "CV 5.pdf"
    assert row.locator(".status").inner_text() == "Verified"
    assert "1005 B" in row.inner_text() and row.locator("time").get_attribute("datetime").startswith("2023-11-14")
    rejected = page.locator('#file-list tr[data-file-id="f-4"]')
    assert rejected.locator(".status").inner_text() == (
        "Rejected: it carries active content (scripts, macros or embedded files)")
    # And only a clean file may be downloaded; any decided file may be deleted
    assert row.locator("button.download").count() == 1 and rejected.locator("button.download").count() == 0
    assert rejected.get_by_role("button", name="Delete CV 4.pdf").count() == 1
    # When she pages on, Then the next page comes from next_cursor
    page.click("#next-page")
    page.wait_for_selector('#file-list tr[data-file-id="f-3"]')
    assert queries[-1] == "limit=2&cursor=c-2" and page.is_disabled("#next-page")
    page.click("#previous-page")
    rejected.wait_for()

    # When she deletes the rejected file (and confirms)
    page.once("dialog", lambda dialog: dialog.accept())
    rejected.get_by_role("button", name="Delete CV 4.pdf").click()
    # Then the page calls DELETE /files/{id} and lists again without it
    page.wait_for_selector("#files-status:has-text('CV 4.pdf was deleted')")
    rejected.wait_for(state="detached")
    assert deleted == ["f-4"]
    page.wait_for_selector('#file-list tr[data-file-id="f-3"]')
    # And a delete she does not confirm sends nothing
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Delete CV 5.pdf").click()
    assert deleted == ["f-4"] and row.count() == 1
    assert not page.problems, page.problems


def test_demo_server_serves_the_bundle_with_the_demo_headers(demo_alone: str) -> None:
    response = requests.get(f"{demo_alone}/build/nothing-here.js", timeout=10)
    assert response.status_code == 404
    # A bundle that is there is served as JavaScript, with the demo's headers
    served = requests.get(f"{demo_alone}/build/uppy.js", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/javascript")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert requests.get(f"{demo_alone}/build/../../Makefile", timeout=10).status_code == 404


# --- against the local mode ------------------------------------------------------------------------

def login(page: Any, url: str, user: str, label: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready=true]")
    page.select_option("#user", user)
    page.click("#login-button")
    page.wait_for_selector(f"#whoami:has-text('Logged in as {label}')")


@pytest.mark.e2e
def test_upload_with_uppy_then_list_page_and_delete_on_the_demo_page(local: Local, page: Any, artifacts: Path) -> None:
    rules = {rule["name"]: rule for rule in requests.get(f"{local.demo}/config.json", timeout=10).json()["rules"]}
    if "delete" not in rules["cv"]["actions"]:
        pytest.fail("the cv rule of the local config does not allow `delete`: the Delete button cannot be tested")
    token = local.token(user="alice")
    headers = {"Authorization": f"Bearer {token}"}

    # Given Alice on the Uppy page
    login(page, f"{local.demo}/uppy.html", "alice", "Alice")
    assert page.get_attribute("body", "data-uppy") == UPPY_VERSION
    page.select_option("#rule", "cv")
    # When she uploads two files at once through Uppy (real presigned POSTs to radosgw)
    cv = samples.ooxml(samples.DOCX, text="a CV uploaded with Uppy")
    letter = samples.pdf(text="a cover letter uploaded with Uppy")
    page.set_input_files("#file", [{"name": "Uppy CV.docx", "mimeType": DOCX, "buffer": cv},
                                   {"name": "Uppy letter.pdf", "mimeType": "application/pdf", "buffer": letter}])
    page.click("#upload-button")
    # Then both are verified, and the page says so
    # (locators, never wait_for_function: the page's CSP forbids the eval Playwright would need)
    page.locator("#uppy-files li[data-status=clean]").nth(1).wait_for(timeout=120_000)
    ids = {page.get_attribute(f'#uppy-files li[data-filename="{name}"]', "data-file-id"): name
           for name in ("Uppy CV.docx", "Uppy letter.pdf")}
    assert all(ids) and len(ids) == 2
    assert "Uppy CV.docx is verified" in page.inner_text("#uppy-files")
    for file_id, name in ids.items():
        record = requests.get(f"{local.api}/files/{file_id}", headers=headers, timeout=10).json()
        assert record["status"] == "clean" and record["filename"] == name and record["rule"] == "cv"
    cv_id = next(file_id for file_id, name in ids.items() if name == "Uppy CV.docx")
    letter_id = next(file_id for file_id, name in ids.items() if name == "Uppy letter.pdf")

    # When she looks at her files one a page, Then she can page through them with next_cursor
    login(page, f"{local.demo}/?page_size=1", "alice", "Alice")
    page.wait_for_selector("#file-list tr[data-file-id]")
    first = page.get_attribute("#file-list tr[data-file-id]", "data-file-id")
    assert page.locator("#file-list tr[data-file-id]").count() == 1
    assert page.is_disabled("#previous-page") and not page.is_disabled("#next-page")
    page.click("#next-page")
    page.wait_for_selector("#page-number:has-text('Page 2')")
    page.wait_for_selector(f'#file-list tr[data-file-id]:not([data-file-id="{first}"])')
    assert page.locator("#file-list tr[data-file-id]").count() == 1
    page.click("#previous-page")
    page.wait_for_selector(f'#file-list tr[data-file-id="{first}"]')

    # When she opens the demo page, Then both files are listed with their original names, verified
    login(page, local.demo, "alice", "Alice")
    row = page.locator(f'#file-list tr[data-file-id="{cv_id}"]')
    row.wait_for()
    assert "Uppy CV.docx" in row.locator(".filename").inner_text()
    assert row.locator(".status").inner_text() == "Verified"
    assert row.locator("button.download").get_attribute("aria-label") == "Download Uppy CV.docx"
    assert page.locator(f'#file-list tr[data-file-id="{letter_id}"]').count() == 1
    page.screenshot(path=str(artifacts / "demo-page-files.png"), full_page=True)

    # When she deletes the CV with its Delete button (and confirms)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.delete").click()
    # Then it leaves the list, and the page says so
    page.wait_for_selector("#files-status:has-text('Uppy CV.docx was deleted')")
    page.wait_for_selector(f'#file-list tr[data-file-id="{cv_id}"]', state="detached")
    assert page.locator(f'#file-list tr[data-file-id="{letter_id}"]').count() == 1
    assert page.inner_text("#files-error") == ""
    # And the API no longer knows it; deleting it again is a harmless 204
    assert requests.get(f"{local.api}/files/{cv_id}", headers=headers, timeout=10).status_code == 404
    assert requests.delete(f"{local.api}/files/{cv_id}", headers=headers, timeout=10).status_code == 204
    # And the letter is still hers
    assert requests.get(f"{local.api}/files/{letter_id}", headers=headers, timeout=10).json()["status"] == "clean"
    assert not page.problems, page.problems
