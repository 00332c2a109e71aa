"""The admin's pickers: voice, presenter and driver ids chosen from the providers' lists.

A text input tied to a <datalist> (the browser's own searchable suggestions, no JavaScript
library needed); `picker.js` narrows the voice suggestions to the chosen provider and language
and fills the voice's name, provider and language from the pick. The forms then check the id is
really in the provider's list, when that list could be fetched.
"""

from __future__ import annotations

from django import forms
from django.utils.html import format_html, format_html_join

from . import catalog
from .languages import same_language
from .models import Avatar, Voice


class DatalistInput(forms.TextInput):
    """A text input offering `options` [(value, label, {data-attr: value})] as suggestions."""

    def __init__(self, options=(), *, list_id: str, attrs=None) -> None:
        super().__init__(attrs={**(attrs or {}), "list": list_id, "autocomplete": "off"})
        self.options = list(options)
        self.list_id = list_id

    def render(self, name, value, attrs=None, renderer=None):
        field = super().render(name, value, attrs, renderer)
        options = format_html_join(
            "", '<option value="{}" label="{}"{}></option>',
            ((value, label, _data_attrs(data)) for value, label, data in self.options),
        )
        return format_html('{}<datalist id="{}">{}</datalist>', field, self.list_id, options)

    class Media:
        js = ["avatars/picker.js"]


def _data_attrs(data: dict) -> str:
    return format_html_join("", ' data-{}="{}"', data.items())


def _listing_note(errors: dict) -> str:
    if not errors:
        return ""
    return " Could not fetch: " + "; ".join(f"{source}: {text}" for source, text in errors.items())


class VoiceForm(forms.ModelForm):
    class Meta:
        model = Voice
        fields = ["name", "provider", "voice_id", "language", "style", "config"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.catalog, self.catalog_errors = catalog.all_voices()
        options = [
            (v.voice_id, v.label, {"provider": v.provider, "language": v.language, "name": v.name})
            for v in self.catalog
        ]
        field = self.fields["voice_id"]
        field.widget = DatalistInput(options, list_id="voice-catalog")
        field.help_text = (
            "Type to search the providers' voices (filtered by the provider and language above)."
            + _listing_note(self.catalog_errors)
        )

    def clean(self):
        data = super().clean()
        provider, voice_id = data.get("provider"), data.get("voice_id")
        source = catalog.SOURCE_OF_PROVIDER.get(provider or "")
        if not provider or not voice_id or source is None:
            return data
        if not catalog.configured(source) or source in self.catalog_errors:
            return data  # no list to check against: the id is taken as typed
        listed = {v.voice_id: v for v in self.catalog if v.provider == provider}
        found = listed.get(voice_id)
        if found is None:
            self.add_error("voice_id", f"{voice_id} is not in the {provider} voice list. Pick one "
                           "from the suggestions (or refresh the lists if it was just added).")
            return data
        language = data.get("language")
        if found.language and language and not same_language(found.language, language):
            self.add_error("language", f"{found.name} speaks {found.language}, not {language}.")
        return data


class AvatarForm(forms.ModelForm):
    class Meta:
        model = Avatar
        # The admin's fieldsets list the rest; these are the ones this form reads.
        fields = ["provider", "presenter_id", "driver_id", "voice", "language"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.presenters = catalog.presenters()
        items = self.presenters.items
        presenter_options = [(p.presenter_id, f"{p.presenter_id} ({p.gender or 'presenter'})",
                              {"driver": p.driver_id}) for p in items]
        drivers = sorted({p.driver_id for p in items if p.driver_id})
        note = f" {self.presenters.error}" if self.presenters.error else ""
        for name, options, list_id, what in (
            ("presenter_id", presenter_options, "presenter-catalog", "D-ID Clips presenter"),
            ("driver_id", [(d, d, {}) for d in drivers], "driver-catalog", "presenter's driver"),
        ):
            if name in self.fields:
                self.fields[name].widget = DatalistInput(options, list_id=list_id)
                self.fields[name].help_text = f"Type to search the {what}s.{note}"
        if "voice" in self.fields and not self.is_bound:
            # Offer the voices in the avatar's language; a posted form keeps them all, so that a
            # mismatch gets the model's explanation rather than "not a valid choice".
            language = self.instance.language
            fitting = [voice.pk for voice in Voice.objects.all()
                       if not voice.language or same_language(voice.language, language)]
            self.fields["voice"].queryset = Voice.objects.filter(pk__in=fitting)
            self.fields["voice"].help_text = f"Voices that speak {language}, the avatar's language."

    def clean(self):
        data = super().clean()
        presenter = data.get("presenter_id")
        if data.get("provider") != Avatar.Provider.DID_CLIPS or not presenter:
            return data
        if self.presenters.error:
            return data  # no list to check against
        listed = {p.presenter_id: p for p in self.presenters.items}
        if presenter not in listed:
            self.add_error("presenter_id", f"{presenter} is not in the provider's presenter list.")
            return data
        driver = data.get("driver_id")
        known = {p.driver_id for p in self.presenters.items if p.driver_id}
        if driver and driver not in known:
            self.add_error("driver_id", f"{driver} is not a driver of the provider's presenters.")
        return data
