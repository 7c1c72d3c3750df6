"""An alert id is the idempotency key of one space's alerts: another space's id must not drop it.

Alerts are unique per (space, alert_id): a member of one space that posts an alert id another
space uses (ids such as `soda-not_null_payment_method-20261201T161515` are predictable) must
not make the other space's alert a silent duplicate.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.support.api import SPACE, ApiWorld


def test_the_same_alert_id_in_two_spaces_is_two_alerts(api: ApiWorld) -> None:
    api.alerts(
        {
            "alert_id": "a1",
            "space": "other",
            "product_id": "p",
            "occurred_at": "2026-03-02T10:00:00Z",
        }
    )
    api.alerts({"alert_id": "a1", "product_id": "raw", "occurred_at": "2026-03-02T10:00:00Z"})
    with api.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT space FROM alerts WHERE alert_id = 'a1' ORDER BY space")
        ).scalars()
        assert list(stored) == [SPACE, "other"]
