"""The connector's settings as documented (MyQ Roger's User Synchronization section), checked before saving."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from microsoft.identity import is_guid
from user_sync import attributes
from user_sync.choices import CostCenterMode, SelectionMode
from user_sync.models import SyncSettings

ALLOWED_WORDS = ", ".join(attributes.ALLOWED)


def _attribute(value: str, *, required: bool, what: str) -> str:
    value = (value or "").strip()
    if not value:
        if required:
            raise forms.ValidationError(f"Name the directory attribute {what}.")
        return ""
    name = attributes.canonical(value.strip("%"))
    if name is None:
        raise forms.ValidationError(f"“{value}” is not an attribute Roger reads. Allowed: {ALLOWED_WORDS}.")
    return name


class SyncSettingsForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SyncSettings
        fields = [
            "auto_sync",
            "sync_groups",
            "selection_mode",
            "selected_group_ids",
            "only_selected_members",
            "group_attribute",
            "cost_center_mode",
            "cost_center_root_group_id",
            "cost_center_attribute",
            "alias_formats",
            "card_attribute",
            "send_pin_email",
            "include_guests",
            "threshold_percent",
        ]
        labels = {
            "selected_group_ids": "Group IDs",
            "group_attribute": "User attribute for groups",
            "cost_center_root_group_id": "Root group ID",
            "cost_center_attribute": "User attribute for cost centers",
            "include_guests": "Synchronize guests too",
            "threshold_percent": "Safety threshold (%)",
        }
        help_texts = {
            "auto_sync": "Once a day; the first automatic sync runs 24 hours after this is turned on.",
            "selected_group_ids": "Directory group object ids, comma-separated.",
            "only_selected_members": "Direct members only; otherwise every user is synchronized.",
            "alias_formats": "Fields in %, formats separated by ;, e.g. %givenName%.%surname%;%surname%-%givenName%. "
            "Aliases are sign-in and lookup names, apart from email addresses.",
            "card_attribute": "The directory attribute whose value becomes the user's card, e.g. employeeId.",
            "send_pin_email": "New users get a printer PIN by email (a first sync that would send more than a few "
            "hundred asks first).",
            "threshold_percent": "A run that would deactivate more than this share of the synchronized users holds "
            "the deactivations until an admin confirms or keeps them.",
        }
        widgets = {
            "selected_group_ids": forms.Textarea(attrs={"rows": 2}),
            "selection_mode": forms.RadioSelect,
            "cost_center_mode": forms.RadioSelect,
        }

    def clean_selected_group_ids(self) -> str:
        raw = self.cleaned_data.get("selected_group_ids") or ""
        ids = [part.strip().lower() for part in re.split(r"[,\s]+", raw) if part.strip()]
        wrong = [value for value in ids if not is_guid(value)]
        if wrong:
            raise forms.ValidationError(f"Not a group id (a GUID): {', '.join(wrong)}.")
        return ",".join(dict.fromkeys(ids))

    def clean_cost_center_root_group_id(self) -> str:
        value = (self.cleaned_data.get("cost_center_root_group_id") or "").strip().lower()
        if value and not is_guid(value):
            raise forms.ValidationError("Not a group id (a GUID).")
        return value

    def clean_alias_formats(self) -> str:
        value = (self.cleaned_data.get("alias_formats") or "").strip()
        try:
            attributes.alias_formats_parse(value)
        except attributes.AttributeUnknown as exc:
            raise forms.ValidationError(
                f"Unknown field{'s' if len(exc.names) > 1 else ''}: {', '.join(exc.names)}. Each format needs at "
                f"least one %field%; allowed fields: {ALLOWED_WORDS}."
            ) from None
        return value

    def clean_card_attribute(self) -> str:
        return _attribute(self.cleaned_data.get("card_attribute", ""), required=False, what="for cards")

    def clean_threshold_percent(self) -> int:
        value = self.cleaned_data["threshold_percent"]
        if not 1 <= value <= 100:
            raise forms.ValidationError("Between 1 and 100.")
        return int(value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        groups, mode = data.get("sync_groups"), data.get("selection_mode")
        if groups and mode == SelectionMode.SELECTED and not data.get("selected_group_ids"):
            self.add_error("selected_group_ids", "Enter the ids of the groups to synchronize.")
        if groups and mode == SelectionMode.ATTRIBUTE:
            try:
                data["group_attribute"] = _attribute(
                    data.get("group_attribute", ""), required=True, what="whose values become groups"
                )
            except forms.ValidationError as exc:
                self.add_error("group_attribute", exc)
        cost_centers = data.get("cost_center_mode")
        if cost_centers == CostCenterMode.ROOT_GROUP:
            if not groups:
                self.add_error("cost_center_mode", "Cost centers from a root group need Sync Groups turned on.")
            if not data.get("cost_center_root_group_id"):
                self.add_error("cost_center_root_group_id", "Enter the root group's id.")
        if cost_centers == CostCenterMode.ATTRIBUTE:
            try:
                data["cost_center_attribute"] = _attribute(
                    data.get("cost_center_attribute", ""), required=True, what="whose values become cost centers"
                )
            except forms.ValidationError as exc:
                self.add_error("cost_center_attribute", exc)
        return data

    def groups_to_check(self) -> list[str]:
        """The group ids to look up in the directory before saving."""
        data = self.cleaned_data
        ids: list[str] = []
        if data.get("sync_groups") and data.get("selection_mode") == SelectionMode.SELECTED:
            ids += [g for g in data.get("selected_group_ids", "").split(",") if g]
        if data.get("cost_center_mode") == CostCenterMode.ROOT_GROUP and data.get("cost_center_root_group_id"):
            ids.append(data["cost_center_root_group_id"])
        return list(dict.fromkeys(ids))
