from avatars.models import Persona


def test_system_prompt_names_the_persona_and_every_filled_field(db, persona):
    prompt = persona.system_prompt()
    assert prompt.startswith("You are Ada, software engineer.")
    for fragment in (
        "BSc Computer Science, 2020, Cambridge",
        "Programming languages: Python, Rust.",
        "Web stack: Django.",
        "Projects: a compiler.",
        "Interests: math.",
        "Goals: teach.",
        "Traits: curious.",
        "Communication style: friendly.",
        "Never reveal the secret word.",
    ):
        assert fragment in prompt


def test_system_prompt_leaves_out_empty_fields_and_asks_for_spoken_answers(db):
    prompt = Persona(name="Sam").system_prompt()
    assert prompt.startswith("You are Sam.")
    assert "Education" not in prompt and "Traits" not in prompt
    assert "spoken sentences" in prompt


def test_persona_api_shape_matches_the_persona_server(db, persona):
    data = persona.as_persona_api()
    assert set(data) == {"name", "title", "education", "technical", "personality", "traits"}
    assert data["education"] == {"degree": "BSc Computer Science", "year": "2020",
                                 "institution": "Cambridge"}
    assert data["technical"] == {"languages": ["Python", "Rust"], "webStack": ["Django"],
                                 "projects": ["a compiler"]}
    assert data["personality"] == {"style": "friendly", "interests": ["math"], "goals": ["teach"]}
