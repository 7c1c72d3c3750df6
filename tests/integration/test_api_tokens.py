"""API tokens: expiry, listing and revocation; use recorded without holding the token's row."""

from __future__ import annotations

import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from incidentd.api.app import create_app
from incidentd.schemas.settings import Settings
from incidentd.storage.tokens import issue_for
from incidentd.storage.users import hash_token
from tests.support.cli import run_cli
from tests.support.ui import parse, sign_in
from tests.support.wait import wait_until


def test_a_request_is_not_held_up_by_another_holding_its_token_row(api: Any) -> None:
    """Another request of the same token (here: a transaction locking its row) blocks nobody."""
    answers: list[int] = []
    with api.engine.connect() as other:
        other.execute(
            text("SELECT 1 FROM api_tokens WHERE token_hash = :h FOR UPDATE"),
            {"h": hash_token(api.tokens["viewer"])},
        )
        thread = threading.Thread(
            target=lambda: answers.append(
                api.client.get(
                    "/spaces/finance/incidents", headers=api.headers("viewer")
                ).status_code
            ),
            daemon=True,
        )
        thread.start()
        try:
            wait_until(lambda: answers, timeout=5, message="the request waited on the token row")
        finally:
            other.rollback()
            thread.join(timeout=30)
    assert answers == [200]


def test_use_is_recorded(api: Any) -> None:
    assert api.client.get("/notifications", headers=api.headers("admin")).status_code == 200
    with api.engine.connect() as conn:
        used = conn.execute(
            text("SELECT last_used_at FROM api_tokens WHERE token_hash = :h"),
            {"h": hash_token(api.tokens["admin"])},
        ).scalar_one()
    assert used is not None


def _token_id(api: Any, role: str) -> int:
    with api.engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT id FROM api_tokens WHERE token_hash = :h"),
                {"h": hash_token(api.tokens[role])},
            ).scalar_one()
        )


def test_an_expired_token_is_refused(api: Any) -> None:
    with api.engine.begin() as conn:
        _, token = issue_for(conn, "viewer@example.com", name="short", days=1)
        conn.execute(
            text("UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE token_hash = :h"),
            {"h": hash_token(token)},
        )
    answer = api.client.get(
        "/spaces/finance/incidents", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


def test_admins_list_and_revoke_their_members_tokens(api: Any) -> None:
    listed = api.client.get("/spaces/finance/tokens", headers=api.headers("admin"))
    assert listed.status_code == 200, listed.text
    emails = {t["email"] for t in listed.json()}
    assert emails == {"viewer@example.com", "editor@example.com", "admin@example.com"}
    assert all(api.tokens["viewer"] not in str(t) for t in listed.json())
    assert (
        api.client.get("/spaces/finance/tokens", headers=api.headers("editor")).status_code == 403
    )
    viewer = _token_id(api, "viewer")
    outsider = _token_id(api, "outsider")
    # Not a member of finance: no such token, for this admin.
    nope = api.client.post(
        f"/spaces/finance/tokens/{outsider}/revoke", headers=api.headers("admin")
    )
    assert nope.status_code == 404
    done = api.client.post(f"/spaces/finance/tokens/{viewer}/revoke", headers=api.headers("admin"))
    assert done.status_code == 204
    refused = api.client.get("/spaces/finance/incidents", headers=api.headers("viewer"))
    assert refused.status_code == 401
    states = {
        t["id"]: t["state"]
        for t in api.client.get("/spaces/finance/tokens", headers=api.headers("admin")).json()
    }
    assert states[viewer] == "revoked"


def test_tokens_on_the_command_line(api: Any) -> None:
    url = api.settings.database_url
    created = run_cli(
        url, "users", "tokens", "create", "viewer@example.com", "--days", "7", "--name", "dash"
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    auth = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/notifications", headers=auth).status_code == 200
    listed = run_cli(url, "users", "tokens", "list", "--email", "viewer@example.com")
    assert listed.returncode == 0 and "dash" in listed.stdout and token not in listed.stdout
    with api.engine.connect() as conn:
        token_id = conn.execute(text("SELECT id FROM api_tokens WHERE name = 'dash'")).scalar_one()
    revoked = run_cli(url, "users", "tokens", "revoke", str(token_id))
    assert revoked.returncode == 0, revoked.stderr
    assert api.client.get("/notifications", headers=auth).status_code == 401
    assert run_cli(url, "users", "tokens", "revoke", "999999").returncode == 1


def test_the_ui_cookie_holds_a_session_id_not_the_token(api: Any) -> None:
    client = sign_in(api, "editor")
    cookie = client.cookies.get("incidentd_session")
    assert cookie and api.tokens["editor"] not in cookie
    assert client.get("/ui/spaces").status_code == 200
    # Revoking the token ends the session opened with it.
    with api.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = :h"),
            {"h": hash_token(api.tokens["editor"])},
        )
    assert client.get("/ui/spaces").status_code == 303


def test_the_session_cookie_can_be_forced_secure(api: Any) -> None:
    settings = Settings(
        database_url=api.settings.database_url, incidents_topic="t", ui_cookie_secure=True
    )
    with TestClient(create_app(settings), follow_redirects=False) as client:
        form = client.get("/ui/login")
        assert "secure" in form.headers["set-cookie"].lower()
        nonce = parse(form.text).find("input", name="login_nonce")[0].attrs["value"]
        client.cookies.set("incidentd_login_csrf", nonce)  # the client keeps Secure ones to https
        done = client.post("/ui/login", data={"token": api.tokens["viewer"], "login_nonce": nonce})
    assert done.status_code == 303, done.text
    cookie = next(
        c for c in done.headers.get_list("set-cookie") if c.startswith("incidentd_session=")
    )
    assert "secure" in cookie.lower()
