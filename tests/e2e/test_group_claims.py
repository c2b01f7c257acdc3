"""Finding 2 of the security review, through the local mode as a new user would try it.

The local API hands claims to the handlers as API Gateway does (arrays as ``[a b]``), and the
dev issuer stands in for Cognito, whose group names cannot hold white space.
"""

from __future__ import annotations

import requests

from tests.e2e.conftest import Local
from tests.e2e.helpers import api

CV = {"rule": "cv", "content_type": "application/pdf", "size": 100, "filename": "cv.pdf"}


def test_finding2_the_dev_issuer_issues_no_group_cognito_could_not_hold(local: Local) -> None:
    # Given a token request for a group named with spaces (Cognito refuses such names)
    response = requests.post(f"{local.issuer}/token", json={"sub": "mallory", "groups": ["no careers access"]},
                             timeout=10)
    # Then no token is issued, so no "[no careers access]" claim can reach the API
    assert response.status_code == 400 and "groups" in response.text


def test_finding2_quoted_or_bracketed_group_names_never_read_as_careers(local: Local) -> None:
    for groups in (['"careers"'], ["careers]"], ["[careers"], ['["careers"]'], ["x", '"careers"']):
        # Given a caller whose groups only look like careers once rendered as "[a b]"
        token = local.token(sub="mallory", groups=groups)
        # When it asks for a CV upload URL
        response = api(local, "/uploads", CV, token=token)
        # Then nothing is minted
        assert response.status_code == 403, (groups, response.text)
        assert response.json()["error"]["code"] == "not_allowed"
    # And a real careers member still gets one
    assert api(local, "/uploads", CV, token=local.token(sub="alice", groups=["careers", "org"])).status_code == 201
