"""CaseViewers (the worker's case look-ups) authenticate with the gateway's token stores: one
place reads GIGBRIDGE_CASE_UNIT_TOKENS (connectors.gateway.config.unit_token_store) for the
look-ups and the gateway's unit routes alike."""

from __future__ import annotations

import json

import pytest

from connectors.gateway.config import GatewayConfigError, hash_token, unit_token_store
from gigbridge.settings import Settings
from streams.core.cases.lookup import Viewer
from streams.runtime.cases.pages import CaseViewers

SETTINGS = Settings(gateway_tokens=json.dumps({"swiftmeal": hash_token("tok-platform")}),
                    case_unit_tokens=json.dumps({"110105-hrss": [hash_token("tok-unit-old"), hash_token("tok-unit")]}))


def test_a_token_names_its_platform_or_unit_and_nothing_else():
    viewers = CaseViewers.from_settings(SETTINGS)
    assert viewers.viewer_for("Bearer tok-platform") == Viewer("PLATFORM", "swiftmeal")
    assert viewers.viewer_for("bearer  tok-unit ") == Viewer("UNIT", "110105-hrss")
    assert viewers.viewer_for("Bearer tok-unit-old") == Viewer("UNIT", "110105-hrss")  # rotation: both digests
    for header in (None, "", "Bearer", "Basic tok-unit", "Bearer tok-other", "Bearer " + "x" * 5000):
        assert viewers.viewer_for(header) is None


def test_unit_tokens_are_checked_at_start_up():
    assert len(unit_token_store(Settings())) == 0
    with pytest.raises(GatewayConfigError, match="unit id 'Bad Unit'"):
        unit_token_store(Settings(case_unit_tokens=json.dumps({"Bad Unit": hash_token("t")})))
    with pytest.raises(GatewayConfigError, match="not valid JSON"):
        unit_token_store(Settings(case_unit_tokens="{nope"))
    with pytest.raises(GatewayConfigError, match="digest of a token"):
        unit_token_store(Settings(case_unit_tokens=json.dumps({"110105-hrss": "clear-token"})))
