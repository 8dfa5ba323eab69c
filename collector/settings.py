"""The one declarative table of settings: name, section, type, default and help.

It feeds the TOML config file (`[section] name = value`), the environment (`ASHIATO_NAME`)
and the command line (`--name-with-dashes`); `collector.config` turns it into frozen
dataclasses once at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ashiato.beacon.vocabulary import FSYNC_POLICIES, PURPOSES, RETENTION_PERIODS, spoken

_PERIOD = {p.name: p for p in RETENTION_PERIODS}


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration key."""

    name: str
    section: str
    kind: type | str  # str, int, float, bool, or "list" (comma-separated strings)
    default: Any
    help: str

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "ASHIATO_" + self.name.upper()

    @property
    def flag(self) -> str:
        """The command-line flag that sets it."""
        return "--" + self.name.replace("_", "-")


SETTINGS: tuple[Setting, ...] = (
    # server
    Setting("host", "server", str, "127.0.0.1", "address to listen on"),
    Setting("port", "server", int, 8080, "TCP port to listen on"),
    Setting(
        "public_url",
        "server",
        str,
        "",
        "base URL browsers and e-mail clients reach the collector at (default: http://HOST:PORT)",
    ),
    Setting(
        "data_dir", "server", str, "./var", "state directory: embedded store, admin tokens, keys"
    ),
    Setting("workers", "server", int, 1, "edge processes sharing the port"),
    Setting(
        "loaders",
        "server",
        int,
        1,
        "loader processes (0: each worker inserts itself, in one process with --workers 1)",
    ),
    Setting("log_level", "server", str, "info", "process log level (debug, info, warning, error)"),
    Setting(
        "max_url_length",
        "server",
        int,
        4096,
        "longest request URL accepted, in bytes (a longer pixel URL still gets the GIF; past "
        "twice this, the HTTP parser refuses the request itself)",
    ),
    Setting("max_field_length", "server", int, 2048, "longest stored text field; longer is cut"),
    Setting(
        "header_timeout_seconds",
        "server",
        float,
        10.0,
        "a connection that began a request must send all of its headers within this time",
    ),
    Setting(
        "idle_timeout_seconds",
        "server",
        float,
        30.0,
        "close a keep-alive connection that sends nothing for this long",
    ),
    Setting(
        "body_timeout_seconds",
        "server",
        float,
        30.0,
        "a request body must arrive whole within this time",
    ),
    Setting(
        "max_connections",
        "server",
        int,
        4096,
        "open client connections per worker; more are refused at once",
    ),
    # storage
    Setting(
        "clickhouse_url",
        "storage",
        str,
        "",
        "ClickHouse server, clickhouse://user:password@host:9000/database "
        "(clickhouses:// for TLS); empty: the embedded store in DATA_DIR",
    ),
    Setting(
        "cluster",
        "storage",
        str,
        "",
        "ClickHouse cluster (remote_servers name) to shard over; needs clickhouse_url",
    ),
    Setting("database", "storage", str, "ashiato", "database of the embedded store"),
    Setting("batch_rows", "storage", int, 5000, "insert a batch once it has this many rows"),
    Setting(
        "batch_ms", "storage", int, 1000, "insert a batch once its oldest row waited this long"
    ),
    Setting(
        "spool_max_mb",
        "storage",
        int,
        512,
        "disk the spool may use while ClickHouse is away; past it hits are dropped (counted)",
    ),
    Setting("spool_segment_mb", "storage", int, 8, "size of one spool segment file"),
    Setting(
        "fsync",
        "storage",
        str,
        "interval",
        f"when spooled hits are forced to disk: {spoken(FSYNC_POLICIES)}",
    ),
    Setting("fsync_interval_ms", "storage", int, 1000, "fsync period under fsync = interval"),
    Setting(
        "drain_seconds",
        "storage",
        float,
        10.0,
        "on shutdown, time allowed to insert what is spooled; the rest waits for next start",
    ),
    # people's SQL queries (`ashiato sql`, POST /admin/sql): ClickHouse stops them at these
    Setting("sql_timeout_seconds", "storage", int, 30, "longest a query of `ashiato sql` may run"),
    Setting("sql_max_memory_mb", "storage", int, 1024, "memory a query of `ashiato sql` may use"),
    Setting("sql_max_rows", "storage", int, 100_000, "most rows a query of `ashiato sql` returns"),
    Setting("sql_max_result_mb", "storage", int, 100, "largest result of a query of `ashiato sql`"),
    # consent
    Setting(
        "consent_regime",
        "consent",
        str,
        "opt-in",
        "what visitors who said nothing get: opt-in (necessary only) or opt-out",
    ),
    Setting(
        "opt_out_purposes",
        "consent",
        "list",
        ["necessary", "statistics"],
        f"purposes granted by default under the opt-out regime ({spoken(PURPOSES)})",
    ),
    Setting("honor_gpc", "consent", bool, True, "treat Sec-GPC: 1 as necessary-only"),
    Setting("honor_dnt", "consent", bool, True, "treat DNT: 1 as necessary-only"),
    Setting("policy_version", "consent", str, "1", "privacy policy version stored on each event"),
    Setting("cookie_days", "consent", int, 395, "lifetime of the visitor cookie, in days"),
    Setting("cookie_secure", "consent", bool, True, "send cookies with the Secure attribute"),
    Setting(
        _PERIOD["full_ip"].setting,
        "consent",
        int,
        _PERIOD["full_ip"].days,
        "days the full IP is kept for security before it is cleared",
    ),
    # collection
    Setting(
        "sites",
        "collection",
        "list",
        [],
        "site ids accepted (empty: any); also the only site labels in metrics",
    ),
    Setting(
        "own_hosts",
        "collection",
        "list",
        [],
        "host names of the tracked sites: their referrers count as internal, and their https "
        "pages may read the collector's answers with cookies (CORS); empty: no CORS at all",
    ),
    Setting(
        "cors_allow_http",
        "collection",
        bool,
        False,
        "also allow CORS with cookies from http:// pages of own_hosts (development only)",
    ),
    Setting(
        "trusted_proxies",
        "collection",
        "list",
        [],
        "CIDRs of proxies whose X-Forwarded-For/Forwarded headers are believed",
    ),
    Setting(
        "forwarded_header",
        "collection",
        str,
        "x-forwarded-for",
        "the header trusted proxies set with the client address: x-forwarded-for or "
        "forwarded (RFC 7239); the other one is ignored, so clients cannot forge it",
    ),
    Setting("geoip_city_db", "collection", str, "", "path to a GeoLite2-City (or Country) mmdb"),
    Setting("geoip_asn_db", "collection", str, "", "path to a GeoLite2-ASN mmdb"),
    Setting(
        "reverse_dns",
        "collection",
        bool,
        False,
        "look up host names of client IPs (asynchronously, cached)",
    ),
    Setting("token_days", "collection", int, 365, "validity of e-mail open and click tokens"),
    Setting(
        "automated_open_seconds",
        "collection",
        float,
        5.0,
        "an e-mail open this soon after its token was made is marked automated (too_soon): "
        "scanners fetch as the message arrives; 0: off",
    ),
    Setting(
        "automated_click_seconds",
        "collection",
        float,
        10.0,
        "an e-mail click this soon after its token was made is marked automated (too_soon); 0: off",
    ),
    Setting(
        "scanner_asns",
        "collection",
        "list",
        [],
        "AS numbers of mail security networks besides the built-in ones (Microsoft, "
        "Proofpoint, Mimecast, Barracuda) whose e-mail opens and clicks are marked automated "
        "(scanner_network); needs geoip_asn_db",
    ),
    # access logs
    Setting(
        "log_exclude",
        "collection",
        "list",
        [
            r"\.(?:css|js|mjs|map|png|jpe?g|gif|webp|avif|svg|ico|woff2?|ttf|eot)(?:[?#]|$)",
            r"^/(?:healthz|readyz|health|status|favicon\.ico|robots\.txt)(?:[?#]|$)",
        ],
        "regexes of request paths in access logs to leave out (static assets, health checks)",
    ),
    Setting(
        "syslog_port",
        "collection",
        int,
        0,
        "UDP and TCP port of the syslog listener for web-server logs (0: off)",
    ),
    Setting("syslog_host", "collection", str, "127.0.0.1", "address of the syslog listener"),
    Setting(
        "syslog_format",
        "collection",
        str,
        "combined",
        "log format of syslog lines: combined, common, or an nginx log_format string",
    ),
    Setting(
        "syslog_site",
        "collection",
        str,
        "",
        "site id for syslog lines (default: the request's host)",
    ),
    Setting(
        "syslog_base_url",
        "collection",
        str,
        "",
        "scheme and host of the site syslog lines come from (https://shop.example), put before "
        "each request path so URLs are stored whole as the beacon stores them (default: the "
        "line's $host and $scheme, when the format has them)",
    ),
    Setting(
        "syslog_idle_seconds",
        "collection",
        float,
        300.0,
        "close a syslog TCP connection that sends nothing for this long (senders reconnect)",
    ),
)

SETTINGS += (
    # retention: days per class (the full-IP window is consent.security_window_days)
    *(
        Setting(p.setting, "retention", int, p.days, p.holds)
        for p in RETENTION_PERIODS
        if p.name != "full_ip"
    ),
    Setting(
        "retention_interval_minutes",
        "retention",
        int,
        60,
        "how often serve runs the retention jobs itself on the embedded store (0: never)",
    ),
)

SECTIONS = ("server", "storage", "consent", "collection", "retention")
BY_NAME = {s.name: s for s in SETTINGS}
