"""The ``[privacy]`` section: defaults, bounds and one-line refusals (ADR 0065: checked without pydantic)."""

from __future__ import annotations

import pytest

from percorso.errors import ConfigError
from percorso.privacy.settings import RetentionRule, privacy_settings


def test_defaults_are_the_documented_ones() -> None:
    ps = privacy_settings(None)
    assert [ps.basis(p) for p in ("analytics", "profiling", "email", "sms", "phone", "ads")] == [
        "legitimate_interest", "legitimate_interest", "consent", "consent", "consent", "consent"]
    assert ps.retention == [RetentionRule(table="events", source="web", months=26),
                            RetentionRule(table="events", source="app", months=26),
                            RetentionRule(table="quarantine", months=12)]
    assert ps.retention_every_hours == 0.0 and ps.vault_key == "" and ps.retired_vault_keys == []


@pytest.mark.parametrize(("months", "ok"), [(1, True), (0, False), (1200, True), (1201, False)])
def test_retention_months_between_1_and_1200(months, ok) -> None:
    raw = {"retention": [{"table": "events", "months": months, "action": "detach"}]}
    if ok:
        assert privacy_settings(raw).retention == [RetentionRule(table="events", months=months, action="detach")]
        return
    words = "greater than or equal to 1" if months < 1 else "less than or equal to 1200"
    with pytest.raises(ConfigError) as err:
        privacy_settings(raw)
    assert str(err.value) == f"percorso.toml: key 'privacy.retention.0.months' = {months}: Input should be {words}"


@pytest.mark.parametrize(("raw", "line"), [
    ({"retention_every_hours": -1}, "key 'privacy.retention_every_hours' = -1: Input should be greater than or equal to 0"),
    ({"legal_basis": {"email": "optout"}}, "key 'privacy.legal_basis.email' = 'optout': Input should be 'consent', "
                                           "'legitimate_interest', 'contract' or 'legal_obligation'"),
    ({"retention": [{"table": "events"}]}, "key 'privacy.retention.0.months' = {'table': 'events'}: Field required"),
    ({"retention": [{"months": 3, "action": "erase"}]}, "key 'privacy.retention.0.action' = 'erase': Input should be "
                                                        "'delete' or 'detach'"),
    ({"legal_basis": {"fax": "consent"}}, "key 'privacy.legal_basis.fax' = 'consent': Extra inputs are not permitted"),
])
def test_a_refused_value_names_key_value_and_reason(raw, line) -> None:
    with pytest.raises(ConfigError) as err:
        privacy_settings(raw)
    assert str(err.value) == f"percorso.toml: {line}"


def test_settings_are_frozen_and_the_env_key_replaces_the_vault_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERCORSO_VAULT_KEY", "ab" * 32)
    ps = privacy_settings({"retention_every_hours": "24"})
    assert ps.vault_key == "ab" * 32 and ps.retention_every_hours == 24.0
    with pytest.raises(AttributeError):
        ps.vault_key = ""  # type: ignore[misc]
