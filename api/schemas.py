"""Request and response shapes. Input is strict (no "5" for 5, no "yes" for true) and closed
(an unknown field is an error, so a typo is not silently ignored)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from ninja import Schema
from pydantic import ConfigDict, Field, StrictBool, StrictStr, StringConstraints

MAX_TEXT_CHARS = 2000  # the WebSocket's limit for a typed message
MAX_LIST_ITEMS = 50


def chars(max_length: int, *, min_length: int = 0):
    return Annotated[StrictStr, Field(min_length=min_length, max_length=max_length)]


Item = chars(200, min_length=1)
Items = Annotated[list[Item], Field(max_length=MAX_LIST_ITEMS)]


class In(Schema):
    model_config = ConfigDict(extra="forbid", strict=True)


# Personas: the persona server's nested shape ----------------------------------------------------


class EducationIn(In):
    degree: chars(200) = ""
    year: chars(50) = ""
    institution: chars(200) = ""


class TechnicalIn(In):
    languages: Items = []
    webStack: Items = []  # noqa: N815 - the persona server's name
    projects: Items = []


class PersonalityIn(In):
    style: chars(300) = ""
    interests: Items = []
    goals: Items = []


class PersonaIn(In):
    name: chars(100, min_length=1)
    title: chars(200) = ""
    education: EducationIn = EducationIn()
    technical: TechnicalIn = TechnicalIn()
    personality: PersonalityIn = PersonalityIn()
    traits: Items = []
    instructions: chars(4000) = ""
    greeting: chars(500) = ""


class PersonaPatch(In):
    """Any subset of PersonaIn; nested objects may be partial too."""

    name: chars(100, min_length=1) | None = None
    title: chars(200) | None = None
    education: EducationIn | None = None
    technical: TechnicalIn | None = None
    personality: PersonalityIn | None = None
    traits: Items | None = None
    instructions: chars(4000) | None = None
    greeting: chars(500) | None = None


class Education(Schema):
    degree: str
    year: str
    institution: str


class Technical(Schema):
    languages: list[str]
    webStack: list[str]  # noqa: N815
    projects: list[str]


class Personality(Schema):
    style: str
    interests: list[str]
    goals: list[str]


class PersonaOut(Schema):
    id: int
    name: str
    title: str
    education: Education
    technical: Technical
    personality: Personality
    traits: list[str]
    instructions: str | None = Field(
        description="The LLM instructions; null unless the caller is staff"
    )
    greeting: str


# Avatars and voices ----------------------------------------------------------------------------


class VoiceOut(Schema):
    id: int
    name: str
    provider: str
    voice_id: str
    language: str
    style: str


class AvatarOut(Schema):
    slug: str
    name: str
    description: str
    provider: str
    transport: str = Field(description="'webrtc' (SDP over the WebSocket) or 'livekit'")
    image: str = Field(description="Absolute URL of the avatar's picture, or empty")
    voice: int | None
    persona: int | None
    has_greeting: bool


# Sessions --------------------------------------------------------------------------------------


class SessionIn(In):
    avatar: chars(50, min_length=1) = Field(description="The avatar's slug")


class SessionOut(Schema):
    conversation: UUID
    status: str
    avatar: str
    websocket: str = Field(description="Attach here (Authorization: Bearer <token>) to open the stream")
    ice_servers: list[dict] = Field(description="STUN/TURN servers for the client's peer connection")
    idle_timeout: int = Field(description="Seconds without activity before the session ends")
    stream_ready: bool = Field(description="Whether the avatar stream is open, so it can speak")
    started_at: datetime
    ended_at: datetime | None
    end_reason: str


class TextIn(In):
    text: Annotated[
        StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)
    ]
    generate_ai_response: StrictBool = Field(
        True, description="false: the avatar says `text` verbatim; true: it answers it"
    )


class SpokenOut(Schema):
    message_id: int = Field(
        description="The saved avatar Message's id (`message_id`, as in the WebSocket frames)"
    )
    text: str = Field(description="What the avatar said")
    ai_response: str | None = Field(description="The AI's answer, when one was asked for")
    speaking_duration: float = Field(description="Seconds the avatar speaks")
    duration_estimated: bool = Field(
        description="True when the provider did not report a duration and it was estimated "
        "from the text (about 150 words a minute)"
    )
    interrupted: bool


class Done(Schema):
    ok: bool = True
    detail: str = ""


# Conversations ---------------------------------------------------------------------------------


class ConversationSummary(Schema):
    id: UUID
    avatar: str
    status: str
    started_at: datetime
    ended_at: datetime | None
    end_reason: str
    first_words: str | None


class ConversationPage(Schema):
    count: int
    page: int
    pages: int
    results: list[ConversationSummary]


class MessageOut(Schema):
    role: str
    text: str
    source: str
    created_at: str | None
    interrupted: bool
    timings_ms: dict[str, int | None] | None = None


class ConversationOut(Schema):
    id: UUID
    avatar: str
    status: str
    started_at: str | None
    ended_at: str | None
    end_reason: str
    messages: list[MessageOut]
