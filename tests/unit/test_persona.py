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


def test_the_persona_server_shape_maps_onto_our_fields_and_only_what_is_sent():
    persona = Persona(name="Ada", education_degree="BSc", traits=["curious"])
    changed = persona.apply_persona_api(
        {"title": "engineer", "education": {"year": "2020"}, "technical": {"webStack": ["Django"]},
         "personality": {"goals": ["teach"]}, "greeting": "Hello!"}
    )
    assert sorted(changed) == ["education_year", "goals", "greeting", "title", "web_stack"]
    assert (persona.name, persona.title, persona.education_degree, persona.education_year) == (
        "Ada", "engineer", "BSc", "2020"
    )
    assert (persona.web_stack, persona.goals, persona.traits, persona.greeting) == (
        ["Django"], ["teach"], ["curious"], "Hello!"
    )
    assert persona.apply_persona_api(persona.as_persona_api()) and persona.web_stack == ["Django"]
