from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest

from accounts.models import User
from accounts.services import sign_in_failure_record, sign_in_lockout


def client_address(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR")


class SignInForm(forms.Form):
    tenancy_name = forms.CharField(
        label="Tenancy name",
        max_length=63,
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}),
    )
    email = forms.EmailField(label="Email", widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        tenancy, email, password = data.get("tenancy_name"), data.get("email"), data.get("password")
        if not (tenancy and email and password):
            return data
        address = client_address(self.request)
        lockout = sign_in_lockout(tenancy_name=tenancy, email=email, ip_address=address)
        if lockout.locked:
            raise forms.ValidationError(
                "Too many failed sign-ins. For your security, sign-in is paused until %(until)s UTC. "
                "You can reset your password meanwhile.",
                code="locked",
                params={"until": f"{lockout.until:%H:%M}"},
            )
        user = authenticate(self.request, tenancy_name=tenancy, username=email, password=password)
        if user is None:
            sign_in_failure_record(tenancy_name=tenancy, email=email, ip_address=address)
            raise forms.ValidationError(
                "The tenancy name, email or password is not right. Check them and try again.", code="invalid"
            )
        self.user = user  # type: ignore[assignment]
        return data


class TenantPasswordResetForm(PasswordResetForm):
    """Password reset within one Roger tenant: the same email may exist in several tenants."""

    tenancy_name = forms.CharField(label="Tenancy name", max_length=63)
    field_order = ["tenancy_name", "email"]

    def get_users(self, email: str):  # type: ignore[no-untyped-def,override]
        tenancy = self.cleaned_data.get("tenancy_name", "").strip().lower()
        return (
            user
            for user in User.objects.filter(tenant__name=tenancy, email=email.lower(), is_active=True)
            if user.has_usable_password()
        )

    def send_mail(  # type: ignore[override]
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        """The reset link goes out through the user's tenant's outgoing server (Settings > Network)."""
        from django.template import loader

        from outgoing_mail.services import tenant_mail_send

        subject = "".join(loader.render_to_string(subject_template_name, context).splitlines())
        body = loader.render_to_string(email_template_name, context)
        html = loader.render_to_string(html_email_template_name, context) if html_email_template_name else None
        tenant_mail_send(tenant=context["user"].tenant, subject=subject, body=body, to=[to_email], html_body=html)
