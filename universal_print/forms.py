"""The Universal Print page's forms: each printer's choice (feed Roger, and into which queue), a new queue."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms

from universal_print.models import Printer
from universal_print.services.connections import PrinterChoice


@dataclass(frozen=True)
class PrinterFields:
    """One printer's row of the form."""

    printer: Printer
    feeds: forms.BoundField
    queue: forms.BoundField


class PrinterChoicesForm(forms.Form):
    """A "Take jobs" box and a queue for every printer of the connection."""

    def __init__(self, *args: Any, printers: list[Printer], queues: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.printers = printers
        for printer in printers:
            self.fields[f"feeds_{printer.pk}"] = forms.BooleanField(
                label=f"Take the jobs of {printer.name}",
                required=False,
                initial=printer.feeds_roger,
                disabled=printer.removed_at is not None,
            )
            self.fields[f"queue_{printer.pk}"] = forms.ModelChoiceField(
                label=f"Queue of {printer.name}",
                queryset=queues,
                required=False,
                initial=printer.queue_id,
                empty_label="Choose a queue",
                error_messages={"invalid_choice": "Choose one of the queues listed."},
            )

    def rows(self) -> list[PrinterFields]:
        return [PrinterFields(p, self[f"feeds_{p.pk}"], self[f"queue_{p.pk}"]) for p in self.printers]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for printer in self.printers:
            if cleaned.get(f"feeds_{printer.pk}") and not cleaned.get(f"queue_{printer.pk}"):
                self.add_error(f"queue_{printer.pk}", "Choose the queue its jobs go to.")
        return cleaned

    def choices(self) -> list[PrinterChoice]:
        return [
            PrinterChoice(
                printer=printer,
                feeds_roger=bool(self.cleaned_data.get(f"feeds_{printer.pk}")),
                queue=self.cleaned_data.get(f"queue_{printer.pk}"),
            )
            for printer in self.printers
        ]


class QueueForm(forms.Form):
    name = forms.CharField(
        label="New queue",
        max_length=100,
        help_text="A Roger queue that printers feed, for example “Follow-Me”.",
    )

    def clean_name(self) -> str:
        name = " ".join(str(self.cleaned_data.get("name", "")).split())
        if not name:
            raise forms.ValidationError("Enter a name for the queue.")
        return name
