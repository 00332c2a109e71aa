import pytest
from django.core.exceptions import ValidationError

from avatars.models import Avatar


def build(**fields) -> Avatar:
    return Avatar(name="X", slug="x", **fields)


@pytest.mark.parametrize(
    ("provider", "missing_field", "fix"),
    [
        ("did_talks", "source_image", {"source_url": "https://example.com/face.jpg"}),
        ("did_clips", "presenter_id", {"presenter_id": "amy-jcwCkr1grs"}),
        ("did_agents", "agent_id", {"agent_id": "agt_123"}),
        ("heygen", "heygen_avatar_name", {"heygen_avatar_name": "Wayne_20240711"}),
        ("liveavatar", "liveavatar_avatar_id",
         {"liveavatar_avatar_id": "dd73ea75-1218-4ef3-92ce-606d5f7fbc0a"}),
    ],
)
def test_each_provider_kind_requires_what_it_needs(db, provider, missing_field, fix):
    with pytest.raises(ValidationError) as caught:
        build(provider=provider).full_clean()
    assert missing_field in caught.value.message_dict
    build(provider=provider, **fix).full_clean()


@pytest.mark.parametrize(
    ("provider", "transport"),
    [("did_talks", "webrtc"), ("did_clips", "webrtc"), ("did_agents", "webrtc"),
     ("heygen", "livekit"), ("liveavatar", "livekit")],
)
def test_the_page_joins_a_livekit_room_for_heygen_and_liveavatar(provider, transport):
    assert build(provider=provider).transport == transport


@pytest.mark.parametrize(
    ("field", "value"),
    [("output_resolution", 1081), ("output_resolution", 0), ("session_timeout", 301),
     ("session_timeout", 0), ("pad_audio", -1.0)],
)
def test_stream_options_are_bounded_like_the_d_id_api(db, field, value):
    avatar = build(provider="did_talks", source_url="https://example.com/face.jpg", **{field: value})
    with pytest.raises(ValidationError) as caught:
        avatar.full_clean()
    assert field in caught.value.message_dict


def test_public_source_url_is_absolute_for_uploaded_photos(db, avatar, settings):
    settings.PUBLIC_BASE_URL = "http://app.example:8000/"
    assert avatar.public_source_url().startswith("http://app.example:8000/media/avatars/ada")
