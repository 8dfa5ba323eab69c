"""Configuration: one table feeds file, environment and flags; bad values name their key."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from ashiato.beacon.vocabulary import RETENTION_PERIODS
from ashiato.collector.config import (
    CollectionConfig,
    ConfigError,
    ConsentConfig,
    RetentionConfig,
    ServerConfig,
    StorageConfig,
    load_config,
)
from ashiato.collector.settings import SETTINGS


def test_defaults_serve_a_newcomer() -> None:
    config = load_config(env={})
    assert (config.server.host, config.server.port) == ("127.0.0.1", 8080)
    assert config.server.data_dir == "./var"
    assert config.storage.clickhouse_url == ""
    assert config.consent.consent_regime == "opt-in"
    assert config.server.base_url == "http://127.0.0.1:8080"


def test_every_setting_has_a_field_and_every_field_a_setting() -> None:
    names = {
        f.name
        for cls in (ServerConfig, StorageConfig, ConsentConfig, CollectionConfig, RetentionConfig)
        for f in fields(cls)
        if f.name != "days"
    }
    # The retention days are one mapping, a setting per period of the vocabulary.
    names |= {p.setting for p in RETENTION_PERIODS}
    assert names == {s.name for s in SETTINGS}


def test_retention_days_come_from_their_settings() -> None:
    config = load_config(env={"ASHIATO_RETENTION_EMAIL_DAYS": "30"})
    assert config.retention.days == {
        p.name: 30 if p.name == "email" else p.days
        for p in RETENTION_PERIODS
        if p.name != "full_ip"
    }
    with pytest.raises(ConfigError, match="retention_audit_days: must be at least 1 day"):
        load_config(env={"ASHIATO_RETENTION_AUDIT_DAYS": "0"})


def test_flags_beat_environment_beat_file(tmp_path: Path) -> None:
    path = tmp_path / "ashiato.toml"
    path.write_text('[server]\nport = 9001\nhost = "0.0.0.0"\n[collection]\nsites = ["a", "b"]\n')
    config = load_config({"port": "9003"}, {"ASHIATO_PORT": "9002"}, str(path))
    assert config.server.port == 9003
    assert config.server.host == "0.0.0.0"
    assert config.collection.sites == ("a", "b")
    assert (
        load_config({}, {"ASHIATO_CONFIG": str(path), "ASHIATO_PORT": "9002"}).server.port == 9002
    )


def test_lists_and_booleans_come_from_text() -> None:
    config = load_config(
        env={"ASHIATO_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1", "ASHIATO_HONOR_DNT": "no"}
    )
    assert config.collection.trusted_proxies == ("10.0.0.0/8", "127.0.0.1")
    assert config.consent.honor_dnt is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ASHIATO_PORT": "eighty"}, "ASHIATO_PORT: port: expected an integer"),
        ({"ASHIATO_PORT": "70000"}, "port: must be between"),
        ({"ASHIATO_HONOR_GPC": "maybe"}, "honor_gpc: expected true or false"),
        ({"ASHIATO_CONSENT_REGIME": "sometimes"}, "consent_regime: must be opt-in or opt-out"),
        ({"ASHIATO_OPT_OUT_PURPOSES": "statistics,tracking"}, "opt_out_purposes: unknown purpose"),
        ({"ASHIATO_FSYNC": "sometimes"}, "fsync: always, interval, roll or never; got"),
        ({"ASHIATO_BATCH_ROWS": "0"}, "batch_rows: must be at least 1"),
        ({"ASHIATO_DATABASE": "x; DROP"}, "database: not a valid name"),
        (
            {"ASHIATO_SYSLOG_BASE_URL": "https://shop.example/shop"},
            "syslog_base_url: only a scheme and a host",
        ),
    ],
)
def test_a_bad_value_fails_with_its_key(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(env=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[server]\nprot = 1\n", "unknown key server.prot"),
        ("[servers]\nport = 1\n", r"unknown section \[servers\]"),
        ("[storage]\nport = 1\n", "unknown key storage.port"),
        ("[server\n", "not valid TOML"),
        ('[server]\nport = "x"\n', "port: expected an integer"),
    ],
)
def test_a_bad_file_fails_with_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(config_file=str(path))


def test_a_missing_config_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"config file not found: /nonexistent\.toml"):
        load_config(config_file="/nonexistent.toml")
