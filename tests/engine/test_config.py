"""The config the parent hands its children survives the trip through JSON."""

from __future__ import annotations

from pathlib import Path

from engine.config import EngineConfig


def test_config_round_trips_through_json():
    config = EngineConfig(
        api_key="k",
        media_root=Path("/srv/media"),
        fetch_hosts=frozenset({"a.example", "b.example"}),
        ice_servers=[{"urls": ["stun:stun.example:3478"]}],
        optional_modules=("groq_chat",),
        max_image_pixels=1234,
    )
    assert EngineConfig.from_json(config.to_json()) == config
    assert EngineConfig.from_json({**config.to_json(), "unknown": 1}) == config
