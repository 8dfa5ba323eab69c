"""Marketing e-mail opt-outs on a real app over real ClickHouse: they outlast expiry and
erasure, opted-out opens and clicks name nobody, the mailer's filter has a scope of its own and
is audited by numbers only, and opting in again lifts the opt-out."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry

from ashiato.beacon.tokens import EmailToken, recipient_pseudonym, sign_token
from ashiato.collector.app import create_app
from ashiato.collector.auth import TokenStore
from ashiato.collector.cli import main
from ashiato.collector.config import load_config
from ashiato.collector.secrets import load_secrets
from ashiato.storage.backend import connection
from ashiato.storage.native import NativeStore
from tests.clickhouse_server import free_port
from tests.collector.conftest import Collector, CollectorFactory
from tests.collector.test_cli import ASHIATO, Served, run_cli

ANN = "Ann@Example.com "  # the mailer's spelling; the opt-out link was made for ann@example.com
BOB = "bob@example.com"
ANN_AGAIN = "ANN@example.com"
EVERYONE = [ANN, BOB, ANN_AGAIN]
TWO_YEARS_ON = "2028-12-01T00:00:00+00:00"


def _token(c: Collector, *scopes: str) -> dict[str, str]:
    plaintext, _ = TokenStore(c.data_dir).create(scopes)
    return {"Authorization": f"Bearer {plaintext}"}


async def _post(c: Collector, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = await c.client.post(path, data=json.dumps(body), headers=headers)
    return response.status, await response.json()


def _pseudonym(c: Collector, address: str) -> str:
    return recipient_pseudonym(address, load_secrets(c.data_dir).recipient_key)


def _link(c: Collector, kind: str, address: str, url: str = "") -> str:
    token = EmailToken(kind, "nov", _pseudonym(c, address), int(time.time()) + 600, url)
    return sign_token(token, load_secrets(c.data_dir).tokens)


async def _opt_out(c: Collector, address: str) -> None:
    response = await c.client.post(f"/u/{_link(c, 'optout', address)}")
    assert response.status == 200 and "Unsubscribed" in await response.text()


async def _filter(c: Collector, headers: dict[str, str]) -> tuple[list[str], list[str]]:
    status, body = await _post(c, "/admin/optouts/filter", {"recipients": EVERYONE}, headers)
    assert status == 200, body
    return body["mailable"], body["opted_out"]


async def test_an_opt_out_outlasts_expiry_and_erasure_until_the_recipient_opts_in(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    admin, mailer = _token(c, "admin"), _token(c, "optouts")
    assert await _filter(c, mailer) == (EVERYONE, [])
    await c.client.get(f"/o/{_link(c, 'open', 'ann@example.com')}.gif")
    await _opt_out(c, "ann@example.com")
    opted_out = ([BOB], [ANN, ANN_AGAIN])
    assert await _filter(c, mailer) == opted_out
    assert len(await c.rows()) == 2  # the open, and the opt-out counted for its campaign

    status, result = await _post(
        c, "/admin/retention/run", {"job": "expire", "now": TWO_YEARS_ON}, admin
    )
    assert status == 200 and result["expire"]["dropped"]
    assert await c.rows() == []
    assert await _filter(c, mailer) == opted_out

    status, result = await _post(
        c,
        "/admin/subject/erase",
        {"recipient_address": ANN, "reason": "erasure request", "timeout": 30},
        admin,
    )
    assert status == 200 and result["rows_remaining"] == 0
    assert await _filter(c, mailer) == opted_out
    # Lifting the erasure's suspension of every use does not subscribe the address again.
    lifted = {"recipient_address": ANN, "reason": "suspension ended"}
    assert (await _post(c, "/admin/subject/unsuppress", lifted, admin))[0] == 200
    assert await _filter(c, mailer) == opted_out
    # Opting in again is lifting the marketing suppression itself.
    again = {**lifted, "purpose": "marketing", "reason": "subscribed again"}
    status, done = await _post(c, "/admin/subject/unsuppress", again, admin)
    assert status == 200 and done == [
        {
            "subject_type": "recipient",
            "subject": _pseudonym(c, ANN),
            "purpose": "marketing",
            "suppressed": False,
        }
    ]
    assert await _filter(c, mailer) == (EVERYONE, [])


async def test_opens_and_clicks_of_an_opted_out_recipient_name_nobody(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    # A browser that allows everything, so its opens would carry its visitor id as well.
    consent = await c.client.post("/consent", json={"c": "statistics,personalization,marketing"})
    assert consent.status == 200

    async def read_mail(address: str) -> None:
        await c.client.get(f"/o/{_link(c, 'open', address)}.gif")
        click = _link(c, "click", address, "https://shop.example/sale")
        assert (await c.client.get(f"/c/{click}", allow_redirects=False)).status == 302

    await read_mail("ann@example.com")
    await _opt_out(c, "ann@example.com")
    await read_mail("ann@example.com")
    await read_mail(BOB)
    rows = await c.rows("kind IN ('email_open', 'email_click')")
    ann, bob = _pseudonym(c, ANN), _pseudonym(c, BOB)
    assert [(r["kind"], r["recipient"], r["visitor_id"] is not None) for r in rows] == [
        ("email_open", ann, True),
        ("email_click", ann, True),
        ("email_open", None, False),
        ("email_click", None, False),
        ("email_open", bob, True),
        ("email_click", bob, True),
    ]
    [optout] = await c.rows("name = 'email_opt_out'")
    assert (optout["recipient"], optout["visitor_id"], optout["campaign"]) == (None, None, "nov")


async def test_the_mailer_filter_has_its_own_scope_and_audits_only_numbers(
    collector: CollectorFactory,
) -> None:
    c = await collector()
    admin, mailer, reader = _token(c, "admin"), _token(c, "optouts"), _token(c, "read")
    await _opt_out(c, ANN)
    status, body = await _post(c, "/admin/optouts/filter", {"recipients": EVERYONE}, reader)
    assert status == 403 and "'optouts' scope" in body["error"]
    status, _ = await _post(c, "/admin/subject/export", {"member": "m", "reason": "x"}, mailer)
    assert status == 403
    status, body = await _post(c, "/admin/optouts/filter", {"recipients": "a@b.example"}, mailer)
    assert status == 400 and body["error"] == "'recipients' must be a list of e-mail addresses"
    assert await _filter(c, mailer) == ([BOB], [ANN, ANN_AGAIN])

    status, entries = await _post(c, "/admin/audit", {}, admin)
    checks = [e for e in entries if e["action"] == "optouts:filter"]
    assert [(e["rows"], e["detail"]) for e in checks] == [(3, "3 checked, 2 opted out")]
    # Neither the addresses nor the pseudonym of one that never opted out is kept anywhere.
    with connection(c.store) as backend:
        stored = json.dumps(
            [
                backend.query(f"SELECT * FROM {table}").rows
                for table in ("audit_log", "suppressions", "events")
            ],
            default=str,
        )
    assert "example.com" not in stored.lower()
    assert _pseudonym(c, BOB) not in stored
    assert _pseudonym(c, ANN) in stored  # the opt-out list itself


async def test_the_opt_out_page_answers_503_while_clickhouse_is_down(
    tmp_path: Path, aiohttp_client: Callable[..., Awaitable[TestClient]]
) -> None:
    config = load_config({"data_dir": str(tmp_path / "var")}, env={})
    store = NativeStore(f"clickhouse://default@127.0.0.1:{free_port()}/down")
    client = await aiohttp_client(create_app(config, store=store, registry=CollectorRegistry()))
    secrets = load_secrets(tmp_path / "var")
    token = EmailToken("optout", "nov", recipient_pseudonym(ANN, secrets.recipient_key), 2**40)
    response = await client.post(f"/u/{sign_token(token, secrets.tokens)}")
    # Not "Unsubscribed" before it is on record: the person (or their mail provider) retries.
    assert response.status == 503 and response.headers["Retry-After"] == "30"


def test_optouts_filter_agrees_offline_through_a_running_server_and_in_the_api(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    addresses = tmp_path / "list.txt"
    addresses.write_text("".join(f"{a}\n" for a in EVERYONE) + "\n")

    def cli(*extra: str, stdin: str = "") -> list[str]:
        result = subprocess.run(
            [*ASHIATO, "optouts", "filter", "--data-dir", str(data), *extra],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "3 address(es): 1 mailable, 2 opted out" in result.stderr
        return result.stdout.splitlines()

    server = Served(data, [])
    try:
        link = run_cli(
            "token",
            "optout",
            "--data-dir",
            str(data),
            "--campaign",
            "nov",
            "--recipient",
            "ann@example.com",
            check=True,
        ).stdout.strip()
        optout = urllib.request.Request(server.url + link[link.index("/u/") :], method="POST")
        with urllib.request.urlopen(optout) as response:
            assert response.status == 200

        served = (cli(str(addresses)), cli("--opted-out", str(addresses)))
        mailer = run_cli(
            "admin-token", "create", "--data-dir", str(data), "--scope", "optouts", check=True
        ).stdout.strip()
        request = urllib.request.Request(
            server.url + "/admin/optouts/filter",
            data=json.dumps({"recipients": EVERYONE}).encode(),
            headers={"Authorization": f"Bearer {mailer}"},
        )
        with urllib.request.urlopen(request) as response:
            body = json.loads(response.read())
    finally:
        server.stop()
    for command in (
        ("retention", "run", "--job", "expire", "--now", TWO_YEARS_ON),
        ("subject", "erase", "--recipient", "ann@example.com", "--reason", "request"),
    ):
        run_cli(*command, "--data-dir", str(data), check=True)
    offline = (
        cli(stdin=addresses.read_text()),
        cli("--opted-out", "-", stdin=addresses.read_text()),
    )
    stripped = ([BOB], [ANN.strip(), ANN_AGAIN])
    assert served == offline == stripped
    assert (body["mailable"], body["opted_out"]) == ([BOB], [ANN, ANN_AGAIN])


def test_the_commands_document_opting_out_and_in(capsys: pytest.CaptureFixture[str]) -> None:
    for command, says in (
        ("optouts filter", "print the opted-out addresses instead"),
        ("subject unsuppress", "--purpose marketing` opts a recipient in again"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main([*command.split(), "--help"], env={})
        assert exit_info.value.code == 0
        assert says in " ".join(capsys.readouterr().out.split())
