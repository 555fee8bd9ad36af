from __future__ import annotations

from django import forms

from onedrive.choices import PrintedAction
from onedrive.errors import OneDriveError
from onedrive.services.browsing import clean_folder


class PreferenceForm(forms.Form):
    printed_action = forms.ChoiceField(
        label="Printed Job",
        choices=PrintedAction.choices,
        widget=forms.RadioSelect,
        help_text='What happens to a file in your OneDrive once it is printed. "Printed" is a folder at the top of '
        "your OneDrive, made when first needed.",
    )


class ScanFolderForm(forms.Form):
    folder = forms.CharField(max_length=400)

    def clean_folder(self) -> str:
        try:
            return clean_folder(self.cleaned_data["folder"])
        except OneDriveError as exc:
            raise forms.ValidationError(exc.message) from exc


class ScanUploadForm(forms.Form):
    document = forms.FileField(label="Scanned document", allow_empty_file=False)
