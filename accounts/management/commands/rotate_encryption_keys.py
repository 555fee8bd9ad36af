from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from fernet_fields import EncryptedField


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted field with the newest key in FERNET_KEYS. Put the new key first, keep the old "
        "ones after it, run this, then remove the old keys."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for model in apps.get_models():
            fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedField)]
            if not fields:
                continue
            count = 0
            with transaction.atomic():
                for obj in model._default_manager.select_for_update().only("pk", *fields).iterator():
                    # Reading decrypts with any listed key; saving encrypts with the first (newest) one.
                    obj.save(update_fields=fields)
                    count += 1
            self.stdout.write(f"{model._meta.label}: re-encrypted {count} rows ({', '.join(fields)})")
        self.stdout.write(self.style.SUCCESS("Every encrypted field now uses the newest key."))
