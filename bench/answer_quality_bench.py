"""Are the local engine's answers right? Factual and persona questions, per setup of its LLM.

    .venv/bin/python -m bench.answer_quality_bench [--quick] [--candidates current,engine_default]

For each candidate setup (the `ENGINE_LLM_*` variables of engine/chat_tuning.py) the engine is
started alone through the launcher (`manage.py run_engine`, `ENGINE_MODULES=groq_chat`), and
every question of bench/answer_quality.yaml is asked over the real HTTP path, one at a time, as
the product asks it: the demo avatar's system prompt (`avatars.prompts.system_prompt_for` on the
persona of avatars/demo.py, computed by the product's own code in `manage.py shell`),
`trim_history` with `LLM_HISTORY_TOKENS`, then Groq's SDK streaming a chat completion with
`GROQ_MODEL`, `LLM_MAX_TOKENS` and GroqChat's temperature: the body `GroqChat.stream` sends.
One unscored question first, so that every candidate starts with the persona prompt evaluated.

Per candidate: % right overall and per category (bench/answer_matching.py judges); first token
(request sent → first content delta, on the client) p50/p90; decoding tokens/s p50 (the engine's
own `x_groq.usage`: completion tokens after the first ÷ completion time); answer length in
words; every answer. `--quick` asks the 5 questions marked `quick`. At temperature 0.7 the
answers vary from run to run: read a few points' difference as noise.

Writes bench/results/answer_quality.json.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from groq import AsyncGroq

from engine.chat_tuning import DEFAULT_HINT
from launcher.stack import LOCAL_ENGINE_KEY, Stack
from streaming.prompt import trim_history

from .answer_matching import QUESTIONS_PATH, Question, is_right, load_questions, score
from .harness import bench_stack
from .report import LoadMonitor, summarize, write

NAME = "answer_quality"
ENGINE_LLM_ONLY = {"ENGINE_MODULES": "groq_chat"}  # no speech recogniser to load
WARM_UP_QUESTION = "Hello!"


@dataclass(frozen=True)
class Candidate:
    name: str
    what: str
    env: dict[str, str]


# Every candidate sets all four, so the caller's environment cannot leak into one; "" is unset.
NONE = {name: "off" for name in ("ENGINE_LLM_HINT", "ENGINE_LLM_EXAMPLES",
                                 "ENGINE_LLM_MAX_TEMPERATURE", "ENGINE_LLM_STOP")}
CANDIDATES = [
    Candidate("current", "the product's request as sent (persona prompt, temperature 0.7)", NONE),
    Candidate("hint", f"+ system line {DEFAULT_HINT!r}", {**NONE, "ENGINE_LLM_HINT": DEFAULT_HINT}),
    Candidate("greedy", "temperature capped at 0 (greedy)",
              {**NONE, "ENGINE_LLM_MAX_TEMPERATURE": "0"}),
    Candidate("low_temperature", "temperature capped at 0.2",
              {**NONE, "ENGINE_LLM_MAX_TEMPERATURE": "0.2"}),
    Candidate("example", "+ one example question and answer after the system prompt",
              {**NONE, "ENGINE_LLM_EXAMPLES": "on"}),
    Candidate("stop", "stop at the first newline", {**NONE, "ENGINE_LLM_STOP": '["\\n"]'}),
    Candidate("greedy_example", "greedy + the example exchange",
              {**NONE, "ENGINE_LLM_MAX_TEMPERATURE": "0", "ENGINE_LLM_EXAMPLES": "on"}),
    Candidate("engine_default", "the engine's defaults (no ENGINE_LLM_* set)",
              {name: "" for name in NONE}),
    Candidate("default_and_stop", "the engine's defaults + stop at the first newline",
              {**{name: "" for name in NONE}, "ENGINE_LLM_STOP": '["\\n"]'}),
]


def product_request() -> dict:
    """What the product sends for the demo avatar. Runs inside `manage.py shell` (Django set up)."""
    from django.conf import settings  # the caller is manage.py shell: Django is set up there

    from avatars.demo import DEMO_PERSONA
    from avatars.models import Avatar, Persona
    from avatars.prompts import system_prompt_for
    from streaming.providers.llm.groq import GroqChat

    avatar = Avatar(persona=Persona(**DEMO_PERSONA))  # unsaved: bootstrap's demo avatar
    return {
        "system_prompt": system_prompt_for(avatar, default=""),
        "model": settings.GROQ_MODEL,
        "max_tokens": settings.LLM_MAX_TOKENS,
        "history_tokens": settings.LLM_HISTORY_TOKENS,
        # registry.llm_client() leaves GroqChat's temperature at its default
        "temperature": inspect.signature(GroqChat).parameters["temperature"].default,
    }


def product_request_of(stack: Stack) -> dict:
    code = ("import json\nfrom bench.answer_quality_bench import product_request\n"
            "print(json.dumps(product_request()))")
    return json.loads(stack.shell(code).splitlines()[-1])


async def ask(client: AsyncGroq, request: dict, text: str) -> dict:
    """One question in a new conversation; the answer, its first-token time and its usage."""
    messages = trim_history(request["system_prompt"], [{"role": "user", "content": text}],
                            max_tokens=request["history_tokens"])
    sent = time.perf_counter()
    first_token = None
    pieces: list[str] = []
    usage, finish_reason = None, None
    stream = await client.chat.completions.create(
        model=request["model"], messages=messages, max_tokens=request["max_tokens"],
        temperature=request["temperature"], stream=True,
    )
    async for chunk in stream:
        if chunk.choices:
            choice = chunk.choices[0]
            if choice.delta.content:
                if first_token is None:
                    first_token = time.perf_counter() - sent
                pieces.append(choice.delta.content)
            finish_reason = choice.finish_reason or finish_reason
        if chunk.x_groq is not None and chunk.x_groq.usage is not None:
            usage = chunk.x_groq.usage
    tokens = usage.completion_tokens if usage else 0
    decode = usage.completion_time if usage else 0.0
    return {
        "answer": "".join(pieces).strip(),
        "first_token_ms": None if first_token is None else round(first_token * 1000, 1),
        "completion_tokens": tokens,
        "tokens_per_second": round((tokens - 1) / decode, 1) if tokens > 1 and decode else None,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "finish_reason": finish_reason,
    }


async def ask_all(stack: Stack, request: dict, questions: list[Question]) -> list[dict]:
    key = stack.env.get("ENGINE_API_KEY") or LOCAL_ENGINE_KEY
    async with AsyncGroq(base_url=stack.engine_url, api_key=key, max_retries=0,
                         timeout=300) as client:
        await ask(client, request, WARM_UP_QUESTION)
        rows = []
        for question in questions:
            try:
                row = await ask(client, request, question.text)
            except Exception as error:  # an error is a wrong answer, said in the row
                row = {"answer": "", "error": f"{type(error).__name__}: {error}"[:300]}
            rows.append({"id": question.id, "category": question.category,
                         "question": question.text, **row,
                         "right": is_right(question, row["answer"])})
            print(f"  {'right' if rows[-1]['right'] else 'WRONG'}  {question.text}  ->  "
                  f"{row['answer'][:100]!r}", flush=True)
        return rows


def candidate_report(candidate: Candidate, rows: list[dict]) -> dict:
    return {
        "what": candidate.what,
        "env": candidate.env,
        **score((r["category"], r["right"]) for r in rows),
        "first_token_ms": summarize(r.get("first_token_ms") for r in rows),
        "tokens_per_second": summarize(r.get("tokens_per_second") for r in rows),
        "answer_words": summarize(len(r["answer"].split()) for r in rows),
        "errors": sum(1 for r in rows if r.get("error")),
        "answers": rows,
    }


def bundled_gguf_models() -> list[str]:
    """The GGUF files installed packages ship (which models a candidate could use)."""
    site = Path(sysconfig.get_paths()["purelib"])
    return sorted(str(p.relative_to(site)) for p in [*site.glob("*/*.gguf"),
                                                     *site.glob("*/*/*.gguf")])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the 5 questions marked quick")
    parser.add_argument("--candidates", default=",".join(c.name for c in CANDIDATES),
                        help=f"comma-separated, of: {', '.join(c.name for c in CANDIDATES)}")
    parser.add_argument("--questions", default=str(QUESTIONS_PATH), help="a YAML questions file")
    args = parser.parse_args(argv)
    known = {c.name: c for c in CANDIDATES}
    wanted = [name for name in args.candidates.split(",") if name]
    unknown = [name for name in wanted if name not in known]
    if unknown or not wanted:
        parser.error(f"unknown candidate(s): {', '.join(unknown)}; see --help")
    questions = load_questions(args.questions)
    if args.quick:
        questions = [q for q in questions if q.quick]

    request, reports = None, {}
    with LoadMonitor() as load:
        for name in wanted:
            candidate = known[name]
            print(f"\n=== {name}: {candidate.what}", flush=True)
            started = time.monotonic()
            with bench_stack(NAME, ("engine",), env={**ENGINE_LLM_ONLY, **candidate.env}) as stack:
                request = request or product_request_of(stack)
                rows = asyncio.run(ask_all(stack, request, questions))
            reports[name] = candidate_report(candidate, rows)
            reports[name]["seconds"] = round(time.monotonic() - started, 1)

    summary = {}
    for name, report in reports.items():
        summary[f"{name}: % right"] = report["percent"]
        summary[f"{name}: first token p50 ms"] = report["first_token_ms"].get("p50")
        summary[f"{name}: tokens/s p50"] = report["tokens_per_second"].get("p50")
    path = write(NAME, {
        "path": "HTTP: Groq's SDK -> the engine's /openai/v1/chat/completions (launcher.Stack, "
                "engine alone), the product's prompt and request body",
        "questions_file": args.questions,
        "questions": len(questions),
        "quick": args.quick,
        "gguf_models_installed": bundled_gguf_models(),
        "product_request": request,
        "summary": summary,
        "candidates": reports,
    }, load=load)
    print(f"\n{'candidate':<16} {'% right':>8} {'first token p50/p90 ms':>24} {'tok/s p50':>10}  "
          "per category")
    for name, report in reports.items():
        ft = report["first_token_ms"]
        cats = ", ".join(f"{c} {v['percent']}" for c, v in report["by_category"].items())
        print(f"{name:<16} {report['percent']!s:>8} {ft.get('p50')!s:>11}/{ft.get('p90')!s:<12} "
              f"{report['tokens_per_second'].get('p50')!s:>10}  {cats}")
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
