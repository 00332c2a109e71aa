"""Is an answer right? The questions of bench/answer_quality.yaml, their judging, the scores. Pure.

A question is right when no `reject` pattern is found in the answer and one of its `accept`
rules holds. A rule is a regex (found anywhere, case-insensitive), a list of regexes (all found:
a keyword set), or `{at_least: n, of: [regexes]}` (n of them found: "name three colours of the
rainbow"). `reject` catches the hedge that would otherwise pass ("six or eight legs").
Each question carries an `example` of a right answer, and may carry `wrong` ones: the unit tests
check that every rule judges them as it should.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

QUESTIONS_PATH = Path(__file__).resolve().parent / "answer_quality.yaml"


class BadQuestions(ValueError):
    """The questions file cannot be used; the message names the question and the field."""


@dataclass(frozen=True)
class Rule:
    patterns: tuple[re.Pattern, ...]
    at_least: int

    def holds(self, answer: str) -> bool:
        return sum(1 for p in self.patterns if p.search(answer)) >= self.at_least


@dataclass(frozen=True)
class Question:
    id: str
    category: str
    text: str
    accept: tuple[Rule, ...]
    reject: tuple[re.Pattern, ...] = ()
    example: str = ""
    wrong: tuple[str, ...] = ()
    quick: bool = False


def normalise(answer: str) -> str:
    """Typographic quotes and dashes as plain ones, runs of spaces as one: what the regexes see."""
    answer = answer.translate(str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-",
                                             "\u2014": "-", "\u201c": '"', "\u201d": '"'}))
    return " ".join(answer.split())


def is_right(question: Question, answer: str) -> bool:
    answer = normalise(answer)
    if not answer or any(p.search(answer) for p in question.reject):
        return False
    return any(rule.holds(answer) for rule in question.accept)


def score(judged: Iterable[tuple[str, bool]]) -> dict[str, Any]:
    """Per cent right overall and per category, from (category, right) pairs."""
    counts: dict[str, list[int]] = {}
    for category, right in judged:
        tally = counts.setdefault(category, [0, 0])
        tally[0] += int(right)
        tally[1] += 1
    right = sum(r for r, _ in counts.values())
    total = sum(n for _, n in counts.values())
    return {
        "right": right,
        "n": total,
        "percent": _percent(right, total),
        "by_category": {
            category: {"right": r, "n": n, "percent": _percent(r, n)}
            for category, (r, n) in sorted(counts.items())
        },
    }


def _percent(right: int, total: int) -> float | None:
    return round(100 * right / total, 1) if total else None


# --------------------------------------------------------------------------- the file


def load_questions(path: Path | str = QUESTIONS_PATH) -> list[Question]:
    """The questions of a YAML file (a `questions:` list); BadQuestions names what is wrong."""
    document = yaml.safe_load(Path(path).read_text())
    entries = document.get("questions") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise BadQuestions(f"{path}: no `questions:` list")
    questions = [parse_question(entry, index) for index, entry in enumerate(entries)]
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise BadQuestions(f"question {question.id!r} appears twice")
        seen.add(question.id)
    return questions


def parse_question(entry: object, index: int = 0) -> Question:
    if not isinstance(entry, Mapping):
        raise BadQuestions(f"question #{index + 1} is not a mapping")
    qid = entry.get("id")
    where = f"question {qid!r}" if isinstance(qid, str) and qid else f"question #{index + 1}"
    for name in ("id", "category", "question"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise BadQuestions(f"{where}: `{name}` must be a non-empty string")
    accept = entry.get("accept")
    if not isinstance(accept, list) or not accept:
        raise BadQuestions(f"{where}: `accept` must be a non-empty list")
    reject = entry.get("reject") or []
    wrong = entry.get("wrong") or []
    if not isinstance(reject, list) or not isinstance(wrong, list):
        raise BadQuestions(f"{where}: `reject` and `wrong` must be lists")
    return Question(
        id=entry["id"],
        category=entry["category"],
        text=entry["question"],
        accept=tuple(_rule(item, where) for item in accept),
        reject=tuple(_pattern(p, where, "reject") for p in reject),
        example=str(entry.get("example") or ""),
        wrong=tuple(str(w) for w in wrong),
        quick=bool(entry.get("quick", False)),
    )


def _rule(item: object, where: str) -> Rule:
    if isinstance(item, str):
        return Rule((_pattern(item, where, "accept"),), 1)
    if isinstance(item, list) and item:
        return Rule(tuple(_pattern(p, where, "accept") for p in item), len(item))
    if isinstance(item, Mapping) and isinstance(item.get("of"), list):
        at_least = item.get("at_least")
        patterns = tuple(_pattern(p, where, "accept") for p in item["of"])
        if not isinstance(at_least, int) or not 1 <= at_least <= len(patterns):
            raise BadQuestions(f"{where}: `at_least` must be from 1 to the number of patterns")
        return Rule(patterns, at_least)
    raise BadQuestions(
        f"{where}: an `accept` rule is a regex, a list of regexes, or {{at_least: n, of: [...]}}"
    )


def _pattern(text: object, where: str, field: str) -> re.Pattern:
    if not isinstance(text, str) or not text:
        raise BadQuestions(f"{where}: a `{field}` pattern must be a non-empty string")
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error as error:
        raise BadQuestions(f"{where}: `{field}` pattern {text!r} is not a regex: {error}") from None
