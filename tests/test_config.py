"""Settings: defaults < TOML < SGBM_REDCAP_* environment < overrides; the token only from the
environment or the keyring, never from a file, and never shown."""

from __future__ import annotations

import dataclasses
import sys
import types
from pathlib import Path

import pytest

from sgbm_redcap.config import Settings, load_settings
from sgbm_redcap.errors import ConfigError

TOKEN = "ABCDEF0123456789ABCDEF0123456789"


def test_defaults_file_environment_and_overrides_in_that_order(tmp_path):
    cfg = tmp_path / "sgbm_redcap.toml"
    cfg.write_text('redcap_url = "https://redcap.example.org/api/"\nbatch_size = 50\n'
                   'timeout_s = 12\ncache_dir = "cache"\n')
    env = {"SGBM_REDCAP_BATCH_SIZE": "75", "SGBM_REDCAP_VERIFY_TLS": "false"}
    s = load_settings(cfg, environ=env, timeout_s=3)
    assert s.redcap_url == "https://redcap.example.org/api/"
    assert s.batch_size == 75  # environment beats the file
    assert s.timeout_s == 3.0  # the command line beats both
    assert s.verify_tls is False
    assert s.cache_dir == Path("cache")
    assert s.retries == Settings().retries  # default kept


def test_settings_under_a_table_are_read_too(tmp_path):
    cfg = tmp_path / "settings.toml"
    cfg.write_text('[sgbm_redcap]\nretries = 2\n')
    assert load_settings(cfg, environ={}).retries == 2


def test_a_token_in_the_settings_file_is_refused(tmp_path):
    cfg = tmp_path / "sgbm_redcap.toml"
    cfg.write_text(f'token = "{TOKEN}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert info.value.setting == "token"
    assert TOKEN not in str(info.value)
    assert "SGBM_REDCAP_TOKEN" in str(info.value)


@pytest.mark.parametrize("text,setting", [("batch_size = 0", "batch_size"),
                                          ("timeout_s = 'soon'", "timeout_s"),
                                          ("colour = 'blue'", "colour"),
                                          ("verify_tls = 'maybe'", "verify_tls")])
def test_bad_settings_name_the_setting_and_the_file(tmp_path, text, setting):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg, environ={})
    assert info.value.setting == setting


def test_missing_or_broken_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "nope.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("batch_size = = 3\n")
    with pytest.raises(ConfigError) as info:
        load_settings(broken, environ={})
    assert info.value.source == str(broken)


def test_token_from_the_environment(monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", TOKEN)
    assert Settings().token() == TOKEN
    monkeypatch.setenv("MY_TOKEN", TOKEN.lower())
    assert Settings(token_env="MY_TOKEN").token() == TOKEN.lower()


def test_token_from_the_keyring_when_the_environment_has_none(monkeypatch):
    monkeypatch.delenv("SGBM_REDCAP_TOKEN", raising=False)
    asked = []
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, user: asked.append((service, user)) or TOKEN
    monkeypatch.setitem(sys.modules, "keyring", fake)
    s = Settings(redcap_url="https://redcap.example.org/api/")
    assert s.token() == TOKEN
    assert asked == [("sgbm-redcap", "https://redcap.example.org/api/")]


def test_missing_token_says_where_to_put_it(monkeypatch):
    monkeypatch.delenv("SGBM_REDCAP_TOKEN", raising=False)
    monkeypatch.setitem(sys.modules, "keyring", None)  # keyring not installed
    with pytest.raises(ConfigError) as info:
        Settings().token()
    assert "SGBM_REDCAP_TOKEN" in str(info.value) and "keyring" in str(info.value)
    assert not Settings().has_token()


def test_malformed_token_is_refused_without_showing_it(monkeypatch):
    bad = "short-token-value"
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", bad)
    with pytest.raises(ConfigError) as info:
        Settings().token()
    assert bad not in str(info.value)


def test_repr_hides_the_token(monkeypatch):
    monkeypatch.setenv("SGBM_REDCAP_TOKEN", TOKEN)
    s = Settings(redcap_url="https://redcap.example.org/api/")
    shown = repr(s) + str(s) + repr(dataclasses.asdict(s))
    assert TOKEN not in shown
    assert "token=<set, hidden>" in repr(s)


def test_every_setting_is_documented():
    docs = (Path(__file__).resolve().parents[1] / "docs" / "source.md").read_text()
    for f in dataclasses.fields(Settings):
        assert f"`{f.name}`" in docs, f.name
        assert f.metadata.get("help"), f.name
