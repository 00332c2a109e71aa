"""Which welcome line an avatar says first."""

from agents.models import Agent
from avatars.models import Avatar, Persona
from streaming.greeting import greeting_for


def test_an_avatar_says_its_personas_greeting():
    avatar = Avatar(provider="did_talks", persona=Persona(name="Ada", greeting=" Hi, I'm Ada. "))
    assert greeting_for(avatar) == "Hi, I'm Ada."


def test_no_persona_or_an_empty_greeting_says_nothing():
    assert greeting_for(Avatar(provider="did_talks")) == ""
    assert greeting_for(Avatar(provider="heygen", persona=Persona(name="Ada", greeting="  "))) == ""


def test_a_did_agents_avatar_with_a_managed_agent_says_the_agents_greeting():
    avatar = Avatar(provider="did_agents", persona=Persona(name="Ada", greeting="Persona hello."),
                    managed_agent=Agent(name="Nova", greeting="Hi, I'm Nova."))
    assert greeting_for(avatar) == "Hi, I'm Nova."


def test_a_did_agents_avatar_without_a_managed_agent_says_the_personas_greeting():
    avatar = Avatar(provider="did_agents", persona=Persona(name="Ada", greeting="Persona hello."))
    assert greeting_for(avatar) == "Persona hello."
