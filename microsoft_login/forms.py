from __future__ import annotations

import uuid
from typing import Any

from django import forms

from microsoft_login.models import LoginSettings


class LoginSettingsForm(forms.Form):
    allow_registration = forms.BooleanField(
        label="Allow users to register themselves",
        required=False,
        help_text="Someone who signs in with Microsoft and is not a Roger user yet becomes a plain user. Off: "
        "only users Roger already has (synchronized or linked) sign in.",
    )
    registration_directory_ids = forms.CharField(
        label="Directories whose people may register",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Only for an integration without a Directory (Tenant) ID, which accepts any organisation: one "
        "Directory (Tenant) ID per line. With a directory on the integration, its people may register.",
    )
    allow_personal_accounts = forms.BooleanField(
        label="Accept personal Microsoft accounts",
        required=False,
        help_text="Personal accounts (outlook.com, hotmail.com...) sign in only with an integration without a "
        "directory, and only when this is on.",
    )

    @classmethod
    def of(cls, settings: LoginSettings, data: Any = None) -> LoginSettingsForm:
        initial = {
            "allow_registration": settings.allow_registration,
            "registration_directory_ids": "\n".join(settings.registration_directory_ids),
            "allow_personal_accounts": settings.allow_personal_accounts,
        }
        return cls(data=data, initial=initial)

    def clean_registration_directory_ids(self) -> list[str]:
        directories = []
        for line in self.cleaned_data["registration_directory_ids"].split():
            try:
                directories.append(str(uuid.UUID(line.strip())))
            except ValueError:
                raise forms.ValidationError(
                    f"“{line}” is not a Directory (Tenant) ID: use the GUID, one per line."
                ) from None
        return directories
