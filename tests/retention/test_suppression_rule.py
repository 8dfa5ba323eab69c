"""One suppression rule, and every user of it agreeing: random histories of suppress,
unsuppress, link and unlink (ties at the same millisecond included), then the same answer from
the collector's loaded list, reports, export, linking's refusal and erasure's plan, each checked
against a plain model of the rule documented in `retention.suppress`, on both backends."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from ashiato.beacon.event import Event
from ashiato.collector.background import load_suppressed
from ashiato.retention.erase import erasure_subjects
from ashiato.retention.export import export
from ashiato.retention.link import SUPPRESSED, identify, refusal, unlink
from ashiato.retention.members import register_member
from ashiato.retention.suppress import (
    EVERY_PURPOSE,
    Suppression,
    suppress,
    suppressed_events,
    suppressions,
    unsuppress,
)
from ashiato.storage.backend import Backend, Store
from ashiato.storage.reports import traffic
from tests.retention.conftest import at, insert

DAY = date(2026, 6, 1)
START = at(DAY, 0)
MARKETING = ("necessary", "statistics", "personalization", "marketing")
PURPOSES = (EVERY_PURPOSE, "statistics", "personalization", "marketing")
MEMBERS = ("m1", "m2")
VISITORS = ("v1", "v2")
RECIPIENTS = ("r1",)
_examples = itertools.count()

Entry = tuple[str, str, str, int, str]  # subject_type, subject, purpose, since_ms, via

subjects = st.one_of(
    st.tuples(st.just("member"), st.sampled_from(MEMBERS)),
    st.tuples(st.just("member"), st.sampled_from(MEMBERS)),  # members twice: links follow them
    st.tuples(st.just("visitor"), st.sampled_from(VISITORS)),
    st.tuples(st.just("recipient"), st.sampled_from(RECIPIENTS)),
)
links = st.tuples(
    st.sampled_from(["link", "link", "unlink"]), st.sampled_from(MEMBERS), st.sampled_from(VISITORS)
)
steps = st.one_of(
    st.tuples(
        st.sampled_from(["suppress", "suppress", "unsuppress"]),
        subjects,
        st.sampled_from(PURPOSES),
    ),
    links,
)
# Each step happens 0 or 1 s after the one before: equal times make ties. Links come first
# more often than chance would have them, so that suppressions have links to follow.
delays = st.sampled_from([0, 1])
histories = st.builds(
    lambda first, rest: first + rest,
    st.lists(st.tuples(links, delays), max_size=3),
    st.lists(st.tuples(steps, delays), min_size=1, max_size=8),
)


@dataclass
class Model:
    """The documented rule, written out plainly."""

    registers: dict[tuple[str, str, str], list[tuple[int, int]]] = field(default_factory=dict)
    links: dict[tuple[str, str], list[tuple[int, bool]]] = field(default_factory=dict)

    def linked(self, member: str, visitor: str) -> bool:
        rows = self.links.get((member, visitor), [])
        # The latest row wins; an unlink wins a tie.
        return bool(rows) and not max(rows)[1]

    def direct(self) -> Iterator[Entry]:
        for (subject_type, subject, purpose), rows in self.registers.items():
            if max(rows)[1] != 1:  # the latest row wins; a suppression wins a tie
                continue
            lifted = max((ts for ts, s in rows if s == 0), default=0)
            since = min(ts for ts, s in rows if s == 1 and ts >= lifted)
            yield subject_type, subject, purpose, since, ""

    def entries(self) -> set[Entry]:
        direct = set(self.direct())
        through_links = {
            ("visitor", visitor, purpose, since, member)
            for subject_type, member, purpose, since, _ in direct
            if subject_type == "member"
            for visitor in VISITORS
            if self.linked(member, visitor)
        }
        return direct | through_links

    def covers(self, subject_type: str, subject: str, purpose: str) -> bool:
        held = {(t, s, p) for t, s, p, _, _ in self.entries()}
        return (subject_type, subject, EVERY_PURPOSE) in held or (
            subject_type,
            subject,
            purpose,
        ) in held


def _setup(backend: Backend, n: str) -> None:
    """Registered members and browsers that allow linking; one event per subject."""
    for member in MEMBERS:
        register_member(backend, n + member, True, ["marketing"], START)
    events = [
        Event(
            ts_ms=int(START.timestamp() * 1000),
            kind="email_open" if subject_type == "recipient" else "pageview",
            site=f"{n}{subject_type}:{subject}",
            purposes=MARKETING,
            retention_class="marketing",
            **{column: n + subject},  # type: ignore[arg-type]
        )
        for subject_type, column, names in (
            ("member", "member_id", MEMBERS),
            ("visitor", "visitor_id", VISITORS),
            ("recipient", "recipient", RECIPIENTS),
        )
        for subject in names
    ]
    insert(backend, events)


def _play(backend: Backend, n: str, history: list[tuple[tuple[str, ...], int]]) -> Model:
    model = Model()
    when = START + timedelta(hours=1)
    for step, delay in history:
        when += timedelta(seconds=delay)
        ts = int(when.timestamp() * 1000)
        if step[0] in ("suppress", "unsuppress"):
            action, (subject_type, subject), purpose = step
            on = action == "suppress"
            (suppress if on else unsuppress)(
                backend, subject_type, n + subject, "test", "", purpose=purpose, now=when
            )
            model.registers.setdefault((subject_type, subject, purpose), []).append((ts, int(on)))
            continue
        action, member, visitor = step
        if action == "link":
            refused = model.covers("member", member, "marketing") or model.covers(
                "visitor", visitor, "marketing"
            )
            outcome = identify(backend, n + member, n + visitor, "test", when)
            assert outcome.linked == (not refused)
            if not refused and not model.linked(member, visitor):
                model.links.setdefault((member, visitor), []).append((ts, False))
        else:
            was = model.linked(member, visitor)
            unlink(backend, n + member, n + visitor, "test", "correction", when)
            if was:
                model.links.setdefault((member, visitor), []).append((ts, True))
    return model


def load_suppressed_entries(backend: Backend, subject_type: str) -> list[Suppression]:
    return list(suppressions(backend, subject_type))


def _own(n: str, entries: set[Entry]) -> set[Entry]:
    """Entries of this example's subjects, with the example's prefix taken off."""
    return {
        (t, s[len(n) :], p, since, via[len(n) :] if via else "")
        for t, s, p, since, via in entries
        if s.startswith(n)
    }


@settings(
    database=None,
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=histories)
@example(  # a suppressed member's browsers, a refused link, and an unlink tied with a link
    history=[
        (("link", "m1", "v1"), 0),
        (("link", "m1", "v2"), 1),
        (("suppress", ("member", "m1"), ""), 1),
        (("link", "m2", "v1"), 0),
        (("unlink", "m1", "v2"), 1),
        (("link", "m1", "v2"), 0),
    ]
)
@example(  # one purpose's register outlives lifting another; a lift and a suppression tie
    history=[
        (("link", "m2", "v2"), 0),
        (("suppress", ("member", "m2"), "marketing"), 1),
        (("suppress", ("member", "m2"), ""), 0),
        (("unsuppress", ("member", "m2"), ""), 1),
        (("unsuppress", ("recipient", "r1"), "marketing"), 0),
        (("suppress", ("recipient", "r1"), "marketing"), 0),
        (("suppress", ("visitor", "v1"), "statistics"), 1),
    ]
)
def test_every_user_of_the_suppression_rule_gives_the_same_answer(
    store: Store, backend: Backend, history: list[tuple[tuple[str, ...], int]]
) -> None:
    n = f"x{next(_examples)}-"  # each example names its own subjects in the shared database
    _setup(backend, n)
    model = _play(backend, n, history)
    expected = model.entries()
    event(f"{sum(bool(e[4]) for e in expected)} suppressed through a link")
    event(f"{len({e[:3] for e in expected})} suppressions in force")
    everyone = [
        (t, s) for t, names in (("member", MEMBERS), ("visitor", VISITORS)) for s in names
    ] + [("recipient", r) for r in RECIPIENTS]

    # The collector's loaded list: who, for what, since when, through whom; and its hit check.
    loaded = load_suppressed(store)
    assert _own(n, {(e.subject_type, e.subject, e.purpose, e.since_ms, e.via) for e in loaded}) == (
        expected
    )
    for (subject_type, subject), purpose in itertools.product(everyone, PURPOSES):
        assert loaded.covers(subject_type, n + subject, purpose) == model.covers(
            subject_type, subject, purpose
        )
    for visitor in VISITORS:
        assert loaded.withholds(visitor=n + visitor) == model.covers(
            "visitor", visitor, "personalization"
        )
        for recipient in RECIPIENTS:
            assert loaded.withholds(visitor=n + visitor, recipient=n + recipient) == (
                model.covers("visitor", visitor, "personalization")
                or model.covers("recipient", recipient, "marketing")
                or model.covers("visitor", visitor, "marketing")
            )

    # Reports leave out exactly the subjects suppressed for statistics.
    report = traffic(
        backend,
        since=DAY,
        until=DAY,
        exclude=suppressed_events("statistics"),
        by=["site"],
        min_group=1,
    )
    shown = {str(row[0])[len(n) :] for row in report.rows if str(row[0]).startswith(n)}
    assert shown == {f"{t}:{s}" for t, s in everyone if not model.covers(t, s, "statistics")}

    # One request may name a member, a visitor and a recipient together: two cover everyone.
    held = {(t, s) for t, s, p, _, via in expected if p == EVERY_PURPOSE and not via}
    for member, visitor, recipient in (("m1", "v1", "r1"), ("m2", "v2", None)):
        named = {"member": n + member, "visitor": n + visitor}
        if recipient:
            named["recipient"] = n + recipient
        linked = [v for v in VISITORS if v != visitor and model.linked(member, v)]
        involved = {
            ("member", member),
            ("visitor", visitor),
            *(("visitor", v) for v in VISITORS if model.linked(member, v)),
            *([("recipient", recipient)] if recipient else []),
        }
        # Export's summary lists the suppressions in force of everyone it is about.
        records = export(backend, **named, actor="test", reason="property")
        listed = {
            (e["subject_type"], e["subject"], e["purpose"], e["since_ms"], e["via"])
            for e in records[-1]["suppressed"]
        }
        assert _own(n, listed) == {e for e in expected if e[:2] in involved}
        # Erasure would suppress, for every purpose, whoever is not so suppressed in their own
        # right: those named, and the member's linked browsers.
        plan = erasure_subjects(backend, **named)
        assert [v[len(n) :] for v in plan.linked] == linked
        order = [
            ("member", member),
            ("visitor", visitor),
            *([("recipient", recipient)] if recipient else []),
            *(("visitor", v) for v in linked),
        ]
        assert [(t, s[len(n) :]) for t, s in plan.to_suppress] == [
            subject for subject in order if subject not in held
        ]

    # Linking is refused exactly when either side is suppressed for marketing.
    for member, visitor in itertools.product(MEMBERS, VISITORS):
        blocked = model.covers("member", member, "marketing") or model.covers(
            "visitor", visitor, "marketing"
        )
        assert refusal(backend, n + member, n + visitor) == (SUPPRESSED if blocked else "")


def test_ties_go_to_the_suppression_and_since_is_when_it_began(backend: Backend) -> None:
    def at_s(second: int) -> datetime:
        return START + timedelta(seconds=second)

    suppress(backend, "visitor", "v1", "test", "", now=at_s(1))
    unsuppress(backend, "visitor", "v1", "test", "", now=at_s(2))
    # Stored in the opposite order to the one they are decided in.
    suppress(backend, "visitor", "v1", "test", "", now=at_s(3))
    unsuppress(backend, "visitor", "v1", "test", "", now=at_s(3))
    suppress(backend, "visitor", "v1", "test", "", now=at_s(4))
    suppress(backend, "member", "m1", "test", "", purpose="marketing", now=at_s(5))
    unsuppress(backend, "member", "m1", "test", "", now=at_s(6))  # every purpose: another register
    [visitor] = load_suppressed_entries(backend, "visitor")
    assert (visitor.purpose, visitor.since_ms) == ("", int(at_s(3).timestamp() * 1000))
    [member] = load_suppressed_entries(backend, "member")
    assert (member.purpose, member.since_ms) == ("marketing", int(at_s(5).timestamp() * 1000))
