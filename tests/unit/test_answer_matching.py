"""The answer-quality benchmark's judge (bench/answer_matching.py) and its questions file: every
question's example answer is judged right and its wrong ones wrong, so a bad pattern shows here,
not as a silently skewed score."""

from __future__ import annotations

import pytest

from avatars.demo import DEMO_PERSONA
from bench.answer_matching import (
    BadQuestions,
    is_right,
    load_questions,
    parse_question,
    score,
)

QUESTIONS = load_questions()


def question(**entry):
    return parse_question({"id": "q", "category": "facts", "question": "?", **entry})


def test_the_file_has_enough_questions_of_every_kind():
    assert len(QUESTIONS) >= 40
    assert {"facts", "space", "arithmetic", "persona", "honesty"} <= {q.category for q in QUESTIONS}
    assert len([q for q in QUESTIONS if q.quick]) == 5


@pytest.mark.parametrize("q", QUESTIONS, ids=lambda q: q.id)
def test_each_questions_example_is_right_and_its_wrong_answers_are_wrong(q):
    assert q.example, "every question shows a right answer"
    assert is_right(q, q.example)
    for wrong in q.wrong:
        assert not is_right(q, wrong), wrong


def test_the_small_models_known_mistakes_are_judged_wrong():
    by_id = {q.id: q for q in QUESTIONS}

    assert not is_right(by_id["spider_legs"], "A spider's legs are called legs.")
    assert not is_right(by_id["rainbow_colours"], "Red, Black, and White.")
    assert is_right(by_id["spider_legs"], "Spiders have 8 legs!")
    assert is_right(by_id["rainbow_colours"], "VIOLET, Indigo and blue.")


def test_the_persona_questions_ask_about_the_demo_persona():
    by_id = {q.id: q for q in QUESTIONS}

    assert is_right(by_id["persona_name"], f"I'm {DEMO_PERSONA['name']}.")
    assert DEMO_PERSONA["name"] in by_id["persona_name"].example
    assert is_right(by_id["persona_university"], DEMO_PERSONA["education_institution"])
    assert is_right(by_id["persona_degree_subject"], DEMO_PERSONA["education_degree"])


def test_a_keyword_set_needs_every_word():
    q = question(accept=[["neil", "armstrong"]])

    assert is_right(q, "It was Neil Armstrong.")
    assert not is_right(q, "It was Louis Armstrong.")


def test_at_least_n_of_a_list():
    q = question(accept=[{"at_least": 2, "of": ["red", "blue", "green"]}])

    assert is_right(q, "red and green")
    assert not is_right(q, "red, red and red")


def test_any_accept_rule_will_do_but_a_reject_pattern_overrides_them():
    q = question(accept=[r"\beight\b", r"\b8\b"], reject=[r"\bsix\b"])

    assert is_right(q, "8.")
    assert not is_right(q, "Six or eight.")
    assert not is_right(q, "")


def test_typographic_apostrophes_and_spacing_do_not_matter():
    q = question(accept=[r"\bdon't know\b"])

    assert is_right(q, "I don\u2019t   know.")


def test_the_score_is_per_cent_right_overall_and_per_category():
    result = score([("facts", True), ("facts", False), ("persona", True), ("facts", True)])

    assert result["right"] == 3 and result["n"] == 4 and result["percent"] == 75.0
    assert result["by_category"] == {
        "facts": {"right": 2, "n": 3, "percent": 66.7},
        "persona": {"right": 1, "n": 1, "percent": 100.0},
    }
    assert score([]) == {"right": 0, "n": 0, "percent": None, "by_category": {}}


@pytest.mark.parametrize(
    ("entry", "says"),
    [
        ({"accept": ["(unclosed"]}, "not a regex"),
        ({"accept": []}, "accept"),
        ({"accept": [{"at_least": 3, "of": ["a", "b"]}]}, "at_least"),
        ({"accept": [42]}, "rule"),
        ({"accept": ["a"], "reject": "b"}, "reject"),
        ({"accept": ["a"], "question": ""}, "question"),
    ],
)
def test_a_bad_question_is_refused_with_its_id(entry, says):
    with pytest.raises(BadQuestions, match=says) as refused:
        question(**entry)
    assert "'q'" in str(refused.value)


def test_a_question_id_may_appear_once(tmp_path):
    path = tmp_path / "questions.yaml"
    path.write_text(
        "questions:\n"
        "  - {id: a, category: facts, question: '1?', accept: ['x']}\n"
        "  - {id: a, category: facts, question: '2?', accept: ['y']}\n"
    )
    with pytest.raises(BadQuestions, match="twice"):
        load_questions(path)


def test_every_benchmark_candidate_is_a_setup_the_engine_accepts():
    from bench.answer_quality_bench import CANDIDATES
    from engine.chat_tuning import ChatTuning

    tunings = {c.name: ChatTuning.from_env(c.env) for c in CANDIDATES}

    assert tunings["current"] == ChatTuning()  # the product's request, untouched
    assert tunings["engine_default"] == ChatTuning.from_env({})
    assert len(set(tunings.values())) == len(tunings)  # no two measure the same thing
