from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from accounts.services import (
    password_reset_mail_send,
    sign_in_account,
    sign_in_attempt_start,
    sign_in_attempt_succeeded,
)
from throttling.clients import client_address
from throttling.services import Throttled

__all__ = ["OperatorSignInForm", "SignInForm", "TenancyForm", "TenantPasswordResetForm", "client_address"]


def _password_checked(*, account: str, request: HttpRequest, check: Callable[[], Any], extra: str = "") -> Any:
    """Run `check` (a password check that raises ValidationError when wrong) under the sign-in lockout.

    The one lockout of the portal: the tenant sign-in and the operator's Django admin sign-in both come here.
    """
    try:
        attempt = sign_in_attempt_start(account=account, client=client_address(request))
    except Throttled as exc:
        until = timezone.now() + timedelta(seconds=exc.retry_after)
        raise forms.ValidationError(
            "Too many failed sign-ins. For your security, sign-in is paused: try again in %(wait)s (at %(until)s UTC)."
            + extra,
            code="locked",
            params={"wait": exc.try_again_in, "until": f"{until:%H:%M}"},
        ) from exc
    result = check()  # a wrong password raises: the attempt stays counted as a failure
    sign_in_attempt_succeeded(attempt=attempt)
    return result


class TenancyForm(forms.Form):
    """The sign-in's first step: which Roger tenant."""

    tenancy_name = forms.SlugField(
        label="Tenancy name",
        max_length=63,
        widget=forms.TextInput(attrs={"autocomplete": "organization", "autofocus": True}),
    )

    def clean_tenancy_name(self) -> str:
        return str(self.cleaned_data["tenancy_name"]).strip().lower()


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
        self.user = _password_checked(
            account=sign_in_account(tenancy_name=tenancy, username=email),
            request=self.request,
            check=lambda: self._authenticate(tenancy, email, password),
            extra=" You can reset your password meanwhile.",
        )
        return data

    def _authenticate(self, tenancy: str, email: str, password: str) -> User:
        user = authenticate(self.request, tenancy_name=tenancy, username=email, password=password)
        if user is None:
            raise forms.ValidationError(
                "The tenancy name, email or password is not right. Check them and try again.", code="invalid"
            )
        return user  # type: ignore[return-value]


class OperatorSignInForm(AdminAuthenticationForm):
    """The operator's sign-in to Django admin (/operator/), under the same lockout as the tenant sign-in."""

    def clean(self) -> dict[str, Any]:
        username, password = self.cleaned_data.get("username"), self.cleaned_data.get("password")
        if not (username and password):
            return super().clean()
        return _password_checked(  # type: ignore[no-any-return]
            account=sign_in_account(tenancy_name=None, username=username),
            request=self.request,  # type: ignore[arg-type]
            check=super().clean,
        )


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

    def save(self, **kwargs: Any) -> None:  # type: ignore[override]
        """Each matching user gets accounts.services.password_reset_mail_send's mail, the one an admin's Reset
        password sends too (the view's template names are those it renders)."""
        for user in self.get_users(self.cleaned_data["email"]):
            password_reset_mail_send(user=user)
