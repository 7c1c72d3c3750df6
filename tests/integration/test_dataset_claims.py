"""A dataset belongs to one space; no answer tells anything of another space (CONTRACT §5, §8)."""

from __future__ import annotations

import gzip
import time
from typing import Any

import orjson
from sqlalchemy import text

from incidentd.lineage.document import parse_document
from incidentd.storage.lineage import DatasetClaimedError, import_document

LINEAGE = "/api/v1/lineage"


def _claim(api: Any, space: str, product: str, role: str, *datasets: str) -> Any:
    return api.client.put(
        f"/spaces/{space}/products/{product}",
        json={"datasets": list(datasets)},
        headers=api.headers(role) if role != "outsider" else _outsider(api),
    )


def _outsider(api: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens['outsider']}"}


def _event(inputs: list[str], outputs: list[str]) -> dict[str, Any]:
    def ds(name: str) -> dict[str, str]:
        namespace, _, rest = name.partition("/")
        return {"namespace": namespace, "name": rest}

    return {
        "job": {"namespace": "n", "name": "j"},
        "inputs": [ds(n) for n in inputs],
        "outputs": [ds(n) for n in outputs],
    }


def test_a_second_space_cannot_claim_a_dataset(api: Any) -> None:
    assert _claim(api, "finance", "raw", "editor", "warehouse/raw").status_code == 200
    taken = _claim(api, "other", "mine", "outsider", "warehouse/raw")
    assert taken.status_code == 409, taken.text
    assert "finance" not in taken.text and "raw'" not in taken.text.replace("warehouse/raw", "")
    with api.engine.connect() as conn:
        owners = conn.execute(
            text("SELECT space FROM products WHERE 'warehouse/raw' = ANY(datasets)")
        ).scalars()
        assert list(owners) == ["finance"]


def test_openlineage_cannot_redirect_another_spaces_edges(api: Any) -> None:
    assert _claim(api, "finance", "raw", "editor", "warehouse/raw").status_code == 200
    assert _claim(api, "finance", "clean", "editor", "warehouse/clean").status_code == 200
    answer = api.client.post(
        f"{LINEAGE}?space=other",
        json=_event(["warehouse/raw"], ["warehouse/evil"]),
        headers=_outsider(api),
    )
    assert answer.status_code == 409, answer.text
    assert "finance" not in answer.text
    with api.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM edges WHERE space = 'other'")).scalar() == 0


def test_lineage_import_refuses_a_second_claim(api: Any) -> None:
    assert _claim(api, "finance", "raw", "editor", "warehouse/raw").status_code == 200
    doc = parse_document(
        orjson.dumps(
            {"products": [{"id": "x", "space": "other", "datasets": ["warehouse/raw"]}]}
        ).decode()
    )
    with api.engine.connect() as conn:
        try:
            import_document(conn, doc)
        except DatasetClaimedError as exc:
            assert "finance" not in str(exc)
        else:
            raise AssertionError("a second claim was imported")


def test_unknown_and_foreign_spaces_answer_alike(api: Any) -> None:
    event = _event(["n/a"], ["n/b"])
    foreign = api.client.post(f"{LINEAGE}?space=finance", json=event, headers=_outsider(api))
    missing = api.client.post(f"{LINEAGE}?space=nowhere", json=event, headers=_outsider(api))
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["detail"].replace("finance", "X") == missing.json()["detail"].replace(
        "nowhere", "X"
    )


def _huge_event(size: int) -> bytes:
    names = [f"warehouse/t{i}" for i in range(size)]
    return gzip.compress(orjson.dumps(_event(names, names)))


def test_a_viewer_is_refused_before_any_lineage_work(api: Any) -> None:
    body = _huge_event(2000)
    headers = {**api.headers("viewer"), "Content-Encoding": "gzip"}
    began = time.monotonic()
    answer = api.client.post(LINEAGE, content=body, headers=headers)
    assert answer.status_code == 403, answer.text
    assert time.monotonic() - began < 2.0  # no dataset was looked up, no graph built


def test_an_event_with_too_many_datasets_is_refused(api: Any) -> None:
    headers = {**api.headers("editor"), "Content-Encoding": "gzip"}
    answer = api.client.post(f"{LINEAGE}?space=finance", content=_huge_event(2000), headers=headers)
    assert answer.status_code == 422, answer.text
    assert "at most 1000" in answer.json()["detail"]
