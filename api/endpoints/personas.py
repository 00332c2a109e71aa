"""Personas in the persona server's shape: everyone signed in reads them, staff write them."""

from django.core.exceptions import ValidationError as ModelValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from avatars.models import Persona

from ..auth import require_staff
from ..errors import ApiError
from ..schemas import PersonaIn, PersonaOut, PersonaPatch

router = Router(tags=["personas"])


def persona_out(request: HttpRequest, persona: Persona) -> dict:
    return {
        "id": persona.pk,
        **persona.as_persona_api(),
        # The instructions are the hidden part of the prompt ("never reveal ..."): staff only.
        "instructions": persona.instructions if request.user.is_staff else None,
        "greeting": persona.greeting,
    }


def _save(persona: Persona) -> None:
    try:
        persona.full_clean()
    except ModelValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        raise ApiError(422, "invalid_input", f"{field}: {messages[0]}") from None
    persona.save()


@router.get("", response=list[PersonaOut], summary="List personas")
def list_personas(request: HttpRequest):
    return [persona_out(request, persona) for persona in Persona.objects.all()]


@router.get("/{int:persona_id}", response=PersonaOut, summary="Read a persona")
def read_persona(request: HttpRequest, persona_id: int):
    return persona_out(request, get_object_or_404(Persona, pk=persona_id))


@router.post("", response={201: PersonaOut}, summary="Create a persona (staff)")
def create_persona(request: HttpRequest, payload: PersonaIn):
    require_staff(request)
    persona = Persona()
    persona.apply_persona_api(payload.model_dump())
    _save(persona)
    return Status(201, persona_out(request, persona))


@router.patch("/{int:persona_id}", response=PersonaOut, summary="Update a persona (staff)")
def update_persona(request: HttpRequest, persona_id: int, payload: PersonaPatch):
    require_staff(request)
    persona = get_object_or_404(Persona, pk=persona_id)
    persona.apply_persona_api(payload.model_dump(exclude_unset=True))
    _save(persona)
    return persona_out(request, persona)
