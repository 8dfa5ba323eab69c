"""Address parsing, truncation, trusted proxies and client-address resolution."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ashiato.beacon.netaddr import TrustedProxies, client_ip, normalize_ip, truncate_ip

PROXIES = TrustedProxies.from_cidrs(["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.77", "203.0.113.77"),
        ("  203.0.113.77\t", "203.0.113.77"),
        ("203.0.113.77:8080", "203.0.113.77"),
        ("2001:DB8:0:0::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:4711", "2001:db8::1"),
        ("::ffff:203.0.113.9", "203.0.113.9"),
        ("[::ffff:cb00:7109]:80", "203.0.113.9"),
        ("fe80::1%eth0", "fe80::1"),
        ("[fe80::1%25eth0]:443", "fe80::1"),
        ("::1", "::1"),
    ],
)
def test_normalize_ip_canonical_forms(value: str, expected: str) -> None:
    assert normalize_ip(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unknown",
        "example.com",
        "example.com:80",
        "203.0.113",
        "203.0.113.256",
        "0203.0.113.1",
        "203.0.113.7:",
        "203.0.113.7:99999",
        "203.0.113.7:port",
        "203.0.113.7%eth0",
        "[203.0.113.7]",
        "[2001:db8::1",
        "[2001:db8::1]443",
        "[2001:db8::1]:",
        "fe80::1%",
        "2001:db8::1:80:80:80:80:80:80",
        "\u0661\u0662\u0663.\u0660.\u0661\u0661\u0663.\u0667",  # Arabic-Indic digits
        "1" * 200,
    ],
)
def test_normalize_ip_rejects_garbage(value: str) -> None:
    assert normalize_ip(value) == ""


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("203.0.113.77", "203.0.113.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("::ffff:203.0.113.77", "203.0.113.0"),
        ("[2001:db8:abcd:12::1]:443", "2001:db8:abcd::"),
        ("not an ip", ""),
    ],
)
def test_truncate_ip_defaults(ip: str, expected: str) -> None:
    assert truncate_ip(ip) == expected


def test_truncate_ip_other_prefixes() -> None:
    assert truncate_ip("203.0.113.77", v4_prefix=16) == "203.0.0.0"
    assert truncate_ip("203.0.113.77", v4_prefix=32) == "203.0.113.77"
    assert truncate_ip("2001:db8:abcd:12::1", v6_prefix=64) == "2001:db8:abcd:12::"
    assert truncate_ip("2001:db8:abcd:12::1", v6_prefix=0) == "::"
    with pytest.raises(ValueError, match="prefixes"):
        truncate_ip("203.0.113.77", v4_prefix=33)


def test_trusted_proxies_membership() -> None:
    assert "10.1.2.3" in PROXIES
    assert "10.1.2.3:5555" in PROXIES
    assert "::ffff:10.1.2.3" in PROXIES
    assert "192.0.2.1" in PROXIES
    assert "192.0.2.2" not in PROXIES
    assert "2001:db8:ffff:1::1" in PROXIES
    assert "2001:db8:fffe::1" not in PROXIES
    assert "garbage" not in PROXIES
    assert "" not in TrustedProxies()


def test_trusted_proxies_accepts_mapped_networks_as_ipv4() -> None:
    proxies = TrustedProxies.from_cidrs(["::ffff:10.0.0.0/104"])

    assert "10.9.9.9" in proxies
    assert "11.0.0.1" not in proxies


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "10.0.0.1/8", "proxy.local", ""])
def test_trusted_proxies_names_the_bad_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="bad trusted proxy CIDR") as caught:
        TrustedProxies.from_cidrs(["10.0.0.0/8", bad])
    assert repr(bad) in str(caught.value)


def test_trusted_proxies_refuses_a_bare_string() -> None:
    with pytest.raises(ValueError, match="list of CIDRs"):
        TrustedProxies.from_cidrs("10.0.0.0/8")


def test_headers_from_an_untrusted_peer_are_ignored() -> None:
    assert client_ip("198.51.100.9", "203.0.113.5", "for=203.0.113.6", PROXIES) == "198.51.100.9"


def test_no_headers_gives_the_peer() -> None:
    assert client_ip("10.0.0.1:3456", None, None, PROXIES) == "10.0.0.1"


def test_xff_is_walked_from_the_right_skipping_trusted_hops() -> None:
    xff = "1.1.1.1, 203.0.113.5, 10.0.0.7, 192.0.2.1"

    # 1.1.1.1 may be spoofed by the client; 203.0.113.5 is who reached our first proxy.
    assert client_ip("10.0.0.2", xff, None, PROXIES) == "203.0.113.5"


def test_xff_with_ports_mapped_and_empty_entries() -> None:
    xff = "203.0.113.5:1234, , ::ffff:10.0.0.7"

    assert client_ip("10.0.0.2", xff, None, PROXIES) == "203.0.113.5"


def test_xff_garbage_hop_falls_back_to_the_peer() -> None:
    assert client_ip("10.0.0.2", "203.0.113.5, not-an-ip", None, PROXIES) == "10.0.0.2"
    assert client_ip("10.0.0.2", "not-an-ip, 203.0.113.5", None, PROXIES) == "203.0.113.5"


def test_all_trusted_chain_gives_the_leftmost_hop() -> None:
    assert client_ip("10.0.0.2", "10.0.0.9, 10.0.0.8", None, PROXIES) == "10.0.0.9"


def test_forwarded_header_with_quoted_ipv6_and_port() -> None:
    forwarded = 'for="[2001:db8::1]:4711";proto=https, for=10.0.0.7'

    assert client_ip("10.0.0.2", None, forwarded, PROXIES) == "2001:db8::1"


def test_forwarded_is_preferred_over_xff() -> None:
    assert (
        client_ip("10.0.0.2", "203.0.113.5", "For=203.0.113.6;by=10.0.0.2", PROXIES)
        == "203.0.113.6"
    )


def test_forwarded_without_for_falls_back_to_xff() -> None:
    assert client_ip("10.0.0.2", "203.0.113.5", "proto=https;host=a.example", PROXIES) == (
        "203.0.113.5"
    )


@pytest.mark.parametrize(
    "forwarded",
    [
        "for=unknown",
        "for=_hidden, for=10.0.0.7",
        'for="203.0.113.6',
        "for",
        "for=203.0.113.6, proto=https",
    ],
)
def test_garbled_or_unknown_forwarded_falls_back_to_the_peer(forwarded: str) -> None:
    assert client_ip("10.0.0.2", "203.0.113.5", forwarded, PROXIES) == "10.0.0.2"


def test_forwarded_quoted_values_may_contain_separators() -> None:
    forwarded = 'for=203.0.113.6;ext="a,b;c", for=10.0.0.7'

    assert client_ip("10.0.0.2", None, forwarded, PROXIES) == "203.0.113.6"


def test_invalid_peer_gives_empty() -> None:
    assert client_ip("", "203.0.113.5", None, PROXIES) == ""
    assert client_ip("/run/ashiato.sock", "203.0.113.5", None, PROXIES) == ""


def test_an_oversized_forwarded_header_falls_back_to_the_peer() -> None:
    assert client_ip("10.0.0.2", None, "for=10.0.0.9," * 2000, PROXIES) == "10.0.0.2"


def test_an_oversized_x_forwarded_for_is_read_from_its_right_end() -> None:
    # A client's own long line cannot push the hop our proxy appended out of the chain.
    padding = ", ".join(["198.51.100.1"] * 2000)
    assert client_ip("10.0.0.2", f"{padding}, 203.0.113.5", None, PROXIES) == "203.0.113.5"
    # Every hop left after the cut is trusted: the leftmost of them, as in a short chain.
    assert client_ip("10.0.0.2", ", ".join(["10.0.0.9"] * 2000), None, PROXIES) == "10.0.0.9"


_headers = st.one_of(st.none(), st.text(max_size=200))
_address_like = st.text(alphabet='0123456789abcdef:.[]%ff, ;="for', max_size=60)


@settings(database=None, max_examples=300)
@given(
    peer=st.one_of(st.text(max_size=60), st.sampled_from(["10.0.0.2", "192.0.2.1:80"])),
    xff=st.one_of(_headers, _address_like),
    forwarded=st.one_of(_headers, _address_like),
)
def test_client_ip_never_raises(peer: str, xff: str | None, forwarded: str | None) -> None:
    result = client_ip(peer, xff, forwarded, PROXIES)

    assert result == "" or normalize_ip(result) == result


@settings(database=None, max_examples=300)
@given(value=st.one_of(st.text(max_size=80), _address_like))
def test_normalize_and_truncate_never_raise(value: str) -> None:
    normalized = normalize_ip(value)
    truncated = truncate_ip(value)

    assert (normalized == "") == (truncated == "")
    assert normalize_ip(normalized) == normalized


@settings(database=None, max_examples=200)
@given(address=st.ip_addresses())
def test_every_real_address_normalizes_and_truncates(address: object) -> None:
    text = str(address)

    assert normalize_ip(text)
    assert truncate_ip(text)
