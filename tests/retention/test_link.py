"""Identity links: made only with consent, covering past events, revoked when consent goes."""

from __future__ import annotations

from datetime import date

from ashiato.beacon.event import Event
from ashiato.retention.link import (
    MEMBER_NO_MARKETING,
    NOT_REGISTERED,
    SUPPRESSED,
    VISITOR_NO_MARKETING,
    LinkOutcome,
    active_links,
    identify,
    link,
    linked_events_sql,
    member_events,
    unlink,
)
from ashiato.retention.members import register_member
from ashiato.retention.suppress import suppress
from ashiato.storage.backend import Backend
from tests.retention.conftest import at, insert, ms

DAY = date(2026, 6, 1)
NOW = at(date(2026, 6, 10))
MARKETING = ("necessary", "statistics", "personalization", "marketing")


def _visit(visitor: str, purposes: tuple[str, ...], hour: int = 12) -> Event:
    return Event(
        ts_ms=ms(DAY, hour),
        kind="pageview",
        visitor_id=visitor,
        purposes=purposes,
        retention_class="marketing" if "marketing" in purposes else "personalization",
    )


def _setup(backend: Backend) -> list[Event]:
    past = [_visit("v1", MARKETING, h) for h in (8, 9, 10)]
    insert(
        backend,
        [
            *past,
            _visit("v2", MARKETING, 8),
            _visit("v2", ("necessary", "personalization"), 9),  # withdrew marketing later
            _visit("v3", MARKETING),
            _visit("v4", MARKETING),
            Event(ts_ms=ms(DAY), kind="pageview"),  # no visitor id at all
        ],
    )
    register_member(backend, "m1", True, ["necessary", "marketing"], at(DAY))
    register_member(backend, "m2", False, ["marketing"], at(DAY))
    register_member(backend, "m3", True, ["necessary"], at(DAY))
    register_member(backend, "m4", True, ["marketing"], at(DAY, 1))
    register_member(backend, "m4", False, [], at(DAY, 2))  # deregistered
    return past


def test_a_consenting_members_past_events_become_linked(backend: Backend) -> None:
    past = _setup(backend)
    assert member_events(backend, "m1") == []
    assert identify(backend, "m1", "v1", "site", NOW) == LinkOutcome(True, "linked")
    assert identify(backend, "m1", "v1", "site", NOW) == LinkOutcome(True, "already linked")
    got = member_events(backend, "m1")
    assert [r["event_id"] for r in got] == [e.event_id for e in past]
    joined = backend.query(f"SELECT linked_member_id, event_id FROM ({linked_events_sql()})")
    assert sorted(tuple(r) for r in joined.rows) == sorted(("m1", e.event_id) for e in past)


def test_linking_is_refused_without_consent_or_when_suppressed(backend: Backend) -> None:
    _setup(backend)
    suppress(backend, "visitor", "v3", "officer", "objection")
    cases = {
        ("m2", "v1"): NOT_REGISTERED,
        ("nobody", "v1"): NOT_REGISTERED,
        ("m4", "v1"): NOT_REGISTERED,
        ("m3", "v1"): MEMBER_NO_MARKETING,
        ("m1", "v2"): VISITOR_NO_MARKETING,
        ("m1", "unseen"): VISITOR_NO_MARKETING,
        ("m1", "v3"): SUPPRESSED,
    }
    for (member, visitor), reason in cases.items():
        assert identify(backend, member, visitor, "site", NOW) == LinkOutcome(False, reason)
    assert active_links(backend) == []
    assert backend.query("SELECT count() FROM identity_links").scalar() == 0


def test_unlink_is_a_correction_that_hides_the_events_again(backend: Backend) -> None:
    _setup(backend)
    identify(backend, "m1", "v1", "site", NOW)
    identify(backend, "m1", "v4", "site", NOW)
    assert unlink(backend, "m1", "v1", "officer", "wrong person", NOW).reason == "unlinked"
    assert active_links(backend) == [("m1", "v4")]
    assert {r["visitor_id"] for r in member_events(backend, "m1")} == {"v4"}
    assert unlink(backend, "m1", "v1", "officer", "again", NOW).reason == "not linked"


def test_the_link_job_revokes_links_whose_consent_was_withdrawn(backend: Backend) -> None:
    _setup(backend)
    identify(backend, "m1", "v1", "site", NOW)
    identify(backend, "m1", "v4", "site", NOW)
    assert link(backend, NOW).revoked == ()
    later = at(date(2026, 6, 11))
    register_member(backend, "m1", True, ["necessary"], later)
    planned = link(backend, later, dry_run=True)
    assert len(active_links(backend)) == 2
    result = link(backend, later)
    assert (
        result.revoked
        == planned.revoked
        == (
            ("m1", "v1", MEMBER_NO_MARKETING),
            ("m1", "v4", MEMBER_NO_MARKETING),
        )
    )
    assert (result.checked, result.kept) == (2, 0)
    assert active_links(backend) == [] and member_events(backend, "m1") == []
    assert link(backend, later).checked == 0
