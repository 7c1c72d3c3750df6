"""A burst of finance alerts for `incidentd demo`, following `demo_data/finance_lineage.yaml`.

Three failure cascades hit three lineage regions that are not related to each other, so the
burst should end up as exactly three incidents in space `finance`:

1. Treasury — payments ingestion stalls. `payments_raw` goes stale and its volume collapses
   (telmai), nulls appear in `payments_stg` (soda), payments stop reconciling to the bank in
   `payments_reconciled` (great_expectations) and `cash_position` no longer ties out (dbt); the
   `treasury_dashboard` exposure goes stale. Root: `payments_raw`; a critical-tier product
   in the blast radius makes the impact HIGH. The `payments_raw` volume check recovers (one
   fingerprint clears) but the incident stays open: its other fingerprints still fire.
2. Revenue — a billing schema change. `billing_invoices_raw` renames `amount_cents`, so
   `invoices_stg` loads no rows and then all-null amounts, recognized revenue stops tying to
   the GL, AR and AR aging go wrong, and the CFO dashboard and board pack go stale. A low
   `arr_mrr_metrics` anomaly, unrelated to billing, joins too: it feeds the alerted dashboard
   and board pack (and shares the direct upstream `subscriptions_stg` with
   `revenue_recognized`), so it is a second root candidate; the root stays the earliest,
   `billing_invoices_raw`. Impact HIGH.
   One `invoices_stg` alert arrives late (out of order), which must not change the grouping.
3. Customer — a small CRM hiccup. `crm_accounts_stg` volume drops and `customer_master` shows
   duplicate keys; both checks pass again a few minutes later, so every fingerprint of that
   incident clears and it resolves itself. Root `crm_accounts_stg`, suspected upstream
   `crm_customers_raw`.

Delivery noise: checks fire again (new `alert_id`, same fingerprint), one alert is delivered
twice (same `alert_id`: the second changes nothing) and exactly one record is malformed (no
`occurred_at`: it must land on the DLQ without stopping the worker).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from incidentd.schemas.alert import alert_key
from incidentd.schemas.common import format_utc

DEMO_SPACE = "finance"
DEMO_LINEAGE_FILE = Path(__file__).parent / "demo_data" / "finance_lineage.yaml"

KafkaRecord = tuple[bytes | None, bytes]


@dataclass(frozen=True, slots=True)
class _Spec:
    """One alert of the scenario, `minutes_ago` before the demo's `now`."""

    minutes_ago: float
    product: str
    alert_type: str
    severity: str
    source: str
    check: str
    title: str
    metric: tuple[str, float, float] | None = None
    attribute: str | None = None
    status: str = "firing"
    explicit_fingerprint: bool = True


# fmt: off
_TREASURY = (
    _Spec(29, "payments_raw", "freshness_breach", "high", "telmai", "freshness_payments_raw",
          "payments_raw not loaded for 95 min", ("minutes_since_last_load", 95, 30)),
    _Spec(27.5, "payments_raw", "volume_anomaly", "medium", "telmai", "row_count_payments_raw",
          "payments_raw hourly volume 97% below forecast", ("row_count", 1210, 38000)),
    _Spec(25, "payments_stg", "quality_check_failed", "critical", "soda",
          "not_null_payment_method", "not_null(payment_method) failed",
          ("null_ratio", 0.071, 0.01), "payment_method"),
    _Spec(22, "payments_reconciled", "reconciliation_mismatch", "critical",
          "great_expectations", "payments_match_bank_credits",
          "Settled payments do not match bank credits", ("unmatched_amount_eur", 1843220.55, 1000)),
    _Spec(19, "payments_raw", "freshness_breach", "high", "telmai", "freshness_payments_raw",
          "payments_raw not loaded for 105 min", ("minutes_since_last_load", 105, 30)),
    _Spec(18, "cash_position", "reconciliation_mismatch", "critical", "dbt",
          "cash_balance_ties_to_bank", "Cash position does not tie to bank balances",
          ("abs_diff_eur", 1790455.1, 500)),
    _Spec(15, "payments_stg", "quality_check_failed", "critical", "soda",
          "not_null_payment_method", "not_null(payment_method) failed",
          ("null_ratio", 0.083, 0.01), "payment_method"),
    _Spec(12, "treasury_dashboard", "freshness_breach", "high", "dbt",
          "exposure_freshness_treasury_dashboard", "Treasury dashboard data is 3 h old",
          ("hours_since_refresh", 3.1, 1)),
    _Spec(9, "payments_raw", "volume_anomaly", "medium", "telmai", "row_count_payments_raw",
          "payments_raw hourly volume back to normal", ("row_count", 37110, 38000),
          status="resolved"),
    _Spec(7, "payments_reconciled", "reconciliation_mismatch", "critical",
          "great_expectations", "payments_match_bank_credits",
          "Settled payments still do not match bank credits",
          ("unmatched_amount_eur", 2210904.0, 1000)),
)

_REVENUE = (
    _Spec(26, "billing_invoices_raw", "schema_change", "high", "dbt",
          "contract_billing_invoices", "Column amount_cents renamed to amount_minor",
          None, "amount_cents"),
    _Spec(23, "invoices_stg", "quality_check_failed", "critical", "great_expectations",
          "expect_amount_eur_not_null", "expect_column_values_to_not_be_null(amount_eur)",
          ("null_ratio", 1.0, 0.0), "amount_eur"),
    _Spec(24, "invoices_stg", "volume_anomaly", "high", "telmai", "row_count_invoices_stg",
          "invoices_stg loaded 0 rows", ("row_count", 0, 15000)),
    _Spec(20, "revenue_recognized", "reconciliation_mismatch", "critical", "dbt",
          "revenue_ties_to_gl", "Recognized revenue does not tie to the GL",
          ("abs_diff_eur", 2406113.4, 100)),
    _Spec(17, "ar_ledger", "quality_check_failed", "HIGH", "soda", "invoice_total_positive",
          "invoice_total > 0 failed for 4,212 rows", ("failed_rows", 4212, 0), "invoice_total"),
    _Spec(14, "revenue_daily", "volume_anomaly", "high", "telmai", "revenue_by_day_drop",
          "Daily revenue 64% below the 28-day baseline", ("pct_change", -0.64, -0.3)),
    _Spec(11, "invoices_stg", "quality_check_failed", "critical", "great_expectations",
          "expect_amount_eur_not_null", "expect_column_values_to_not_be_null(amount_eur)",
          ("null_ratio", 1.0, 0.0), "amount_eur"),
    _Spec(8, "cfo_dashboard", "freshness_breach", "critical", "dbt",
          "exposure_freshness_cfo_dashboard", "CFO dashboard revenue tiles are stale",
          ("hours_since_refresh", 2.5, 1)),
    _Spec(6, "ar_aging", "reconciliation_mismatch", "medium", "soda", "aging_sums_to_ar",
          "AR aging buckets do not sum to the AR ledger", ("abs_diff_eur", 88120.0, 10)),
    _Spec(5, "arr_mrr_metrics", "volume_anomaly", "low", "telmai", "mrr_day_over_day",
          "MRR day-over-day change outside the usual band", ("pct_change", 0.021, 0.02)),
    _Spec(4, "revenue_recognized", "reconciliation_mismatch", "critical", "dbt",
          "revenue_ties_to_gl", "Recognized revenue still does not tie to the GL",
          ("abs_diff_eur", 2511870.9, 100)),
    _Spec(3, "revenue_daily", "volume_anomaly", "high", "telmai", "revenue_by_day_drop",
          "Daily revenue 71% below the 28-day baseline", ("pct_change", -0.71, -0.3)),
    _Spec(2, "board_pack_monthly", "freshness_breach", "critical", "dbt",
          "exposure_freshness_board_pack", "Board pack sources not refreshed for month-end",
          ("hours_since_refresh", 6.0, 4)),
)

_CUSTOMER = (
    _Spec(28, "crm_accounts_stg", "volume_anomaly", "medium", "soda", "row_count_crm_accounts",
          "crm_accounts_stg row count dropped 38%", ("row_count", 61240, 95000),
          explicit_fingerprint=False),
    _Spec(24.5, "customer_master", "quality_check_failed", "low", "great_expectations",
          "unique_customer_id", "expect_column_values_to_be_unique(customer_id)",
          ("duplicate_ratio", 0.004, 0.0), "customer_id"),
    _Spec(21, "customer_master", "quality_check_failed", "low", "great_expectations",
          "unique_customer_id", "expect_column_values_to_be_unique(customer_id)",
          ("duplicate_ratio", 0.005, 0.0), "customer_id"),
    _Spec(13, "crm_accounts_stg", "volume_anomaly", "medium", "soda", "row_count_crm_accounts",
          "crm_accounts_stg row count back to normal", ("row_count", 96010, 95000),
          status="resolved", explicit_fingerprint=False),
    _Spec(10, "customer_master", "quality_check_failed", "low", "great_expectations",
          "unique_customer_id", "expect_column_values_to_be_unique(customer_id) passes",
          ("duplicate_ratio", 0.0, 0.0), "customer_id", status="resolved"),
)
# fmt: on


def demo_alert_burst(now: datetime) -> list[KafkaRecord]:
    """The demo's (key, value) alert records, all within the 30 minutes before `now`."""
    base = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
    base = base.replace(microsecond=0)
    treasury = [_record(spec, base) for spec in _TREASURY]
    revenue = [_record(spec, base) for spec in _REVENUE]
    customer = [_record(spec, base) for spec in _CUSTOMER]
    duplicate = treasury[5]  # cash_position: delivered twice, same alert_id and bytes
    late = revenue.pop(2)  # invoices_stg volume anomaly, delivered after later alerts
    ordered = [
        *_interleave(treasury[:6], revenue[:5], customer[:3]),
        duplicate,
        _malformed(base),
        late,
        *_interleave(treasury[6:], revenue[5:], customer[3:]),
    ]
    return ordered


def _interleave(*streams: list[KafkaRecord]) -> list[KafkaRecord]:
    """Round-robin merge, as if three monitors published at once."""
    merged: list[KafkaRecord] = []
    longest = max(len(stream) for stream in streams)
    for i in range(longest):
        merged.extend(stream[i] for stream in streams if i < len(stream))
    return merged


def _record(spec: _Spec, base: datetime) -> KafkaRecord:
    body = _alert(spec, base)
    return alert_key(body["space"]), _encode(body)


def _alert(spec: _Spec, base: datetime) -> dict[str, Any]:
    """A CONTRACT §2 alert event for `spec`."""
    occurred = base - timedelta(minutes=spec.minutes_ago)
    stamp = occurred.strftime("%Y%m%dT%H%M%S")
    event: dict[str, Any] = {
        "schema_version": 1,
        "alert_id": f"{spec.source}-{spec.check}-{stamp}",
        "space": DEMO_SPACE,
        "product_id": spec.product,
        "alert_type": spec.alert_type,
        "status": spec.status,
        "severity": spec.severity,
        "occurred_at": format_utc(occurred),
        "title": spec.title,
        "check": {
            "id": f"chk-{spec.check}",
            "name": spec.check,
            "policy_id": "4",
            "policy_name": "prod checks",
        },
        "attribute": spec.attribute,
        "segment": None,
        "tags": ["prod", "demo"],
        "source": spec.source,
        "run_url": f"https://{spec.source}.example.com/runs/{spec.check}/{stamp}",
    }
    if spec.explicit_fingerprint:
        event["fingerprint"] = f"{spec.product}/{spec.check}"
    if spec.metric is not None:
        name, value, threshold = spec.metric
        event["metric"] = {"name": name, "value": value, "threshold": threshold}
        event["description"] = f"{name} = {value:g}, threshold {threshold:g}"
    return event


def _malformed(base: datetime) -> KafkaRecord:
    """The one record that must go to the DLQ: `occurred_at` is missing."""
    event = _alert(_TREASURY[6], base)
    event["alert_id"] = f"soda-not_null_payment_method-{base:%Y%m%dT%H%M%S}-broken"
    del event["occurred_at"]
    return alert_key(event["space"]), _encode(event)


def _encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()
