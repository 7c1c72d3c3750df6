"""`POST /api/v1/lineage` on a real uvicorn server, fed by the real `openlineage-python` client."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
import orjson
import pytest
import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from openlineage.client.uuid import generate_new_uuid
from sqlalchemy import text

from incidentd.schemas.settings import Settings
from tests.support.api import SPACE, ApiWorld
from tests.support.live import serve
from tests.support.wait import wait_until

ENDPOINT = "api/v1/lineage"
T = TypeVar("T")
NO_ALERTS = {"alerts_queued": 0, "alerts_rejected": [], "unresolved_targets": []}


@pytest.fixture
def server(api: ApiWorld) -> Iterator[str]:
    """The world's API served over TCP, no default lineage space configured."""
    with serve(api.settings) as url:
        yield url


def client(
    url: str, token: str | None, *, gzip_body: bool = False, endpoint: str = ENDPOINT
) -> OpenLineageClient:
    """The real OpenLineage client with its HTTP transport, as a pipeline would configure it."""
    config = HttpConfig(
        url=url,
        endpoint=endpoint,
        auth=ApiKeyTokenProvider({"apiKey": token}) if token else HttpConfig(url=url).auth,
        compression=HttpCompression.GZIP if gzip_body else None,
        timeout=10,
    )
    return OpenLineageClient(transport=HttpTransport(config))


def run_event(inputs: list[str], outputs: list[str], job: str = "orders_dag.transform") -> RunEvent:
    """A COMPLETE RunEvent of `job` reading `inputs` and writing `outputs` (`namespace/name`)."""

    def split(name: str) -> tuple[str, str]:
        namespace, _, rest = name.partition("/")
        return namespace, rest

    return RunEvent(
        eventType=RunState.COMPLETE,
        eventTime=datetime.now(UTC).isoformat(),
        run=Run(runId=str(generate_new_uuid())),
        job=Job(namespace="airflow", name=job),
        producer="https://example.com/incidentd-tests",
        inputs=[InputDataset(*split(n)) for n in inputs],
        outputs=[OutputDataset(*split(n)) for n in outputs],
    )


def emit(ol: OpenLineageClient, event: RunEvent) -> dict[str, Any]:
    """Send through the client's transport (what `OpenLineageClient.emit` does, which returns
    nothing) and return the response body."""
    response = ol.transport.emit(event)  # raises on any non-2xx answer
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    return body


def status_of(ol: OpenLineageClient, event: RunEvent) -> tuple[int, str]:
    """Status and detail of an event the server refuses."""
    with pytest.raises(requests.HTTPError) as refused:
        ol.emit(event)
    response = refused.value.response
    return response.status_code, response.json()["detail"]


def claim(api: ApiWorld, product: str, *datasets: str, space: str = SPACE) -> None:
    """Let `product` claim `datasets` (through the catalog API)."""
    response = api.client.put(
        f"/spaces/{space}/products/{product}",
        json={"datasets": list(datasets)},
        headers=api.headers("editor"),  # an editor of both `finance` and `plain`
    )
    assert response.is_success, response.text


def db(api: ApiWorld, sql: str, **params: Any) -> list[Any]:
    """Rows of a query against the world's database."""
    with api.engine.connect() as conn:
        return list(conn.execute(text(sql), params))


def edges(api: ApiWorld, space: str = SPACE) -> set[tuple[str, str]]:
    """Every edge of the space."""
    rows = db(api, "SELECT upstream, downstream FROM edges WHERE space = :s", s=space)
    return {(r[0], r[1]) for r in rows}


def version(api: ApiWorld, space: str = SPACE) -> int:
    """The space's lineage version."""
    return int(db(api, "SELECT lineage_version FROM spaces WHERE slug = :s", s=space)[0][0])


def settled(read: Callable[[], T], expected: Callable[[T], bool] | T) -> T:
    """`read()` once it satisfies `expected`, waiting for the request's commit.

    The server may answer before its transaction commits (`Conn` in incidentd/api/deps.py is
    request-scoped, so its commit runs after the response is sent); these tests are about
    what gets written, `test_a_2xx_answer_means_committed` pins that ordering.
    """

    def check() -> bool:
        value = read()
        return bool(expected(value)) if callable(expected) else value == expected

    wait_until(check, timeout=10, message=lambda: f"still {read()!r}")
    return read()


def test_client_events_become_lineage(api: ApiWorld, server: str) -> None:
    claim(api, "raw", "warehouse/orders_raw")
    claim(api, "clean", "warehouse/orders_clean", "kafka/orders.v1")
    before = version(api)
    ol = client(server, api.tokens["editor"])
    event = run_event(
        ["warehouse/orders_raw", "kafka/orders.v1"], ["warehouse/orders_clean", "s3/exports"]
    )
    ol.emit(event)
    # raw -> clean existed; clean -> clean is no edge; the unclaimed output becomes a node.
    assert settled(lambda: version(api), before + 1)
    assert edges(api) - {("raw", "clean"), ("clean", "mart"), ("mart", "report")} == {
        ("raw", "s3/exports"),
        ("clean", "s3/exports"),
    }
    node = db(api, "SELECT space, name, datasets FROM products WHERE id = 's3/exports'")
    assert [tuple(r) for r in node] == [(SPACE, "s3/exports", ["s3/exports"])]
    assert version(api) == before + 1
    # The same event again changes nothing and still succeeds.
    again = ol.transport.emit(event)
    assert again.status_code == 201
    assert again.json() == {"space": SPACE, "products_added": 0, "edges_added": 0, **NO_ALERTS}
    assert version(api) == before + 1
    # The new node is claimed from now on: its downstream lands on it, not on a new node.
    answer = emit(ol, run_event(["s3/exports"], ["s3/archive"], job="archive"))
    assert answer == {"space": SPACE, "products_added": 1, "edges_added": 1, **NO_ALERTS}
    assert settled(lambda: version(api), before + 2)
    assert ("s3/exports", "s3/archive") in edges(api)
    lineage = api.client.get(
        f"/spaces/{SPACE}/products/raw/lineage", headers=api.headers("viewer")
    ).json()
    hops = {n["product_id"]: n["hops"] for n in lineage["nodes"]}
    assert hops["s3/exports"] == 1 and hops["s3/archive"] == 2


def test_gzip_compressed_events(api: ApiWorld, server: str) -> None:
    claim(api, "mart", "warehouse/mart")
    ol = client(server, api.tokens["admin"], gzip_body=True)
    assert ol.transport.compression is HttpCompression.GZIP
    response = ol.transport.emit(run_event(["warehouse/mart"], ["bi/dashboard"]))
    assert response.status_code == 201, response.text
    assert response.request.headers["Content-Encoding"] == "gzip"
    assert response.json() == {"space": SPACE, "products_added": 1, "edges_added": 1, **NO_ALERTS}
    settled(lambda: edges(api), lambda found: ("mart", "bi/dashboard") in found)


def test_space_of_unclaimed_events(api: ApiWorld, server: str) -> None:
    event = run_event(["src/a"], ["src/b"])
    status, detail = status_of(client(server, api.tokens["editor"]), event)
    assert status == 422 and "INCIDENTD_LINEAGE_DEFAULT_SPACE" in detail
    explicit = client(server, api.tokens["editor"], endpoint=f"{ENDPOINT}?space=plain")
    assert emit(explicit, event)["space"] == "plain"
    assert settled(lambda: version(api, "plain"), 1)
    assert edges(api, "plain") == {("src/a", "src/b")}
    # src/a is plain's now (its node claims it): finance cannot claim it too.
    taken = api.client.put(
        f"/spaces/{SPACE}/products/raw", json={"datasets": ["src/a"]}, headers=api.headers()
    )
    assert taken.status_code == 409 and "plain" not in taken.text
    # A claim beats ?space=: the event lands where its datasets' products live.
    claim(api, "raw", "src/z")
    assert emit(explicit, run_event(["src/z"], ["src/c"]))["space"] == SPACE
    settled(lambda: edges(api), lambda found: ("raw", "src/c") in found)
    bad = client(server, api.tokens["editor"], endpoint=f"{ENDPOINT}?space=Not%20a%20slug")
    assert status_of(bad, run_event(["x/y"], ["x/z"]))[0] == 422


def test_default_space_setting(api: ApiWorld) -> None:
    settings = Settings(
        database_url=api.settings.database_url, incidents_topic="t", lineage_default_space="plain"
    )
    with serve(settings) as url:
        answer = emit(client(url, api.tokens["editor"]), run_event(["u/a"], ["u/b"]))
        assert answer["space"] == "plain"
        other = client(url, api.tokens["outsider"], endpoint=f"{ENDPOINT}?space=other")
        assert emit(other, run_event(["v/a"], ["v/b"]))["space"] == "other"
        # u/a is claimed now (by the node the first event made in `plain`): not the outsider's.
        status, detail = status_of(other, run_event(["u/a"], ["v/c"]))
        assert status == 409 and "plain" not in detail
    assert settled(lambda: edges(api, "plain"), {("u/a", "u/b")})
    assert settled(lambda: edges(api, "other"), {("v/a", "v/b")})


def test_auth_outcomes(api: ApiWorld, server: str) -> None:
    claim(api, "raw", "warehouse/orders_raw")
    event = run_event(["warehouse/orders_raw"], ["s3/x"])
    assert status_of(client(server, None), event)[0] == 401
    assert status_of(client(server, "idt_not-a-token"), event)[0] == 401
    status, detail = status_of(client(server, api.tokens["viewer"]), event)
    assert status == 403 and "may not change" in detail
    # Claimed by a space the outsider is not in: the same answer as for a dataset nobody
    # claims (no space to put it in), naming nothing of the other space.
    claimed = status_of(client(server, api.tokens["outsider"]), event)
    unclaimed = status_of(client(server, api.tokens["outsider"]), run_event(["n/a"], ["s3/x"]))
    assert claimed[0] == unclaimed[0] == 422 and SPACE not in claimed[1]
    # The outsider's own space via ?space=, for datasets nobody claims.
    own = client(server, api.tokens["outsider"], endpoint=f"{ENDPOINT}?space=other")
    assert emit(own, run_event(["o/a"], ["o/b"]))["space"] == "other"
    settled(lambda: edges(api, "other"), {("o/a", "o/b")})
    status, detail = status_of(own, event)  # claimed by finance: ?space= does not apply
    assert status == 409 and SPACE not in detail
    assert ("raw", "s3/x") not in edges(api)
    assert not db(api, "SELECT 1 FROM products WHERE id = 's3/x'")


def test_unusable_requests(api: ApiWorld, server: str) -> None:
    claim(api, "raw", "warehouse/orders_raw")
    claim(api, "x", "other/x", space="plain")
    url = f"{server}/{ENDPOINT}"
    auth = {"Authorization": f"Bearer {api.tokens['editor']}"}
    good = orjson.dumps({"job": {"namespace": "n", "name": "j"}, "inputs": [], "outputs": []})

    def post(body: bytes, **headers: str) -> httpx.Response:
        return httpx.post(url, content=body, headers={**auth, **headers}, timeout=30)

    crossing = {
        "job": {"namespace": "n", "name": "j"},
        "inputs": [{"namespace": "warehouse", "name": "orders_raw"}],
        "outputs": [{"namespace": "other", "name": "x"}],
    }
    for body, reason in (
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        (b'{"inputs": []}', "job"),
        (b'{"job": {"namespace": "n", "name": ""}}', "job.name"),
        (b'{"job": {"namespace": "n", "name": "j"}, "inputs": [{"name": 1}]}', "inputs"),
        (orjson.dumps(crossing), "several spaces"),
        (
            b'{"job": {"namespace": "n", "name": "j"}, '
            b'"inputs": [{"namespace": "a", "name": "b\\u0000"}]}',
            "NUL",
        ),
    ):
        response = post(body)
        assert response.status_code == 422, (body, response.text)
        assert reason in response.json()["detail"], (body, response.text)
    assert post(gzip.compress(good)[:-8], **{"Content-Encoding": "gzip"}).status_code == 400
    assert post(b"garbage", **{"Content-Encoding": "gzip"}).status_code == 400
    assert post(good, **{"Content-Encoding": "br"}).status_code == 415
    assert post(b" " * (5 * 1024 * 1024 + 1)).status_code == 413
    bomb = gzip.compress(b" " * (20 * 1024 * 1024 + 1))
    assert post(bomb, **{"Content-Encoding": "gzip"}).status_code == 413
    assert post(good, **{"Content-Encoding": "identity"}).status_code == 422  # no space
    assert httpx.post(url, content=b"[]", timeout=30).status_code == 401  # auth comes first
    assert ("raw", "other/x") not in edges(api)


def test_a_2xx_answer_means_committed(api: ApiWorld, server: str) -> None:
    """Whoever got a 201 can read what was written (read-after-write, over real TCP)."""
    ol = client(server, api.tokens["editor"], endpoint=f"{ENDPOINT}?space=plain")
    for i in range(100):
        assert emit(ol, run_event([f"r/{i}"], [f"w/{i}"]))["edges_added"] == 1
        assert (f"r/{i}", f"w/{i}") in edges(api, "plain"), f"event {i}: answered, not committed"
