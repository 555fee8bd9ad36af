"""Sign-in by tenancy name, email and password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User


class TenantEmailBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        tenancy_name: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        if password is None:
            return None
        lookup: dict[str, object]
        if tenancy_name is not None and username is not None:
            lookup = {"tenant__name": tenancy_name.strip().lower(), "email": username.strip().lower()}
        elif username is not None:  # the operator in Django admin
            lookup = {"username": username, "tenant__isnull": True}
        else:
            return None
        user = User.objects.filter(**lookup).select_related("tenant").first()
        if user is None:
            User().set_password(password)  # same work as a real check: no timing difference for unknown users
            return None
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None

    def _get_group_permissions(self, user_obj: Any) -> QuerySet[Permission]:
        """`User.groups` are the tenant's user groups (directory or local), which grant no Django permissions."""
        return Permission.objects.none()
