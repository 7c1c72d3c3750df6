"""API tokens: use is recorded without holding the token for the request."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import text

from incidentd.storage.users import hash_token
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
