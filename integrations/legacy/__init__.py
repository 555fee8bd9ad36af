"""Roger Server before 2.20: the Microsoft settings from before integrations, and the way out of them.

Everything that exists only because tenants once connected Microsoft without integrations lives here:

- `models.py`: the settings of that time (Entra ID User Synchronization, Universal Print, Cloud Services) and
  `LegacySwitch`, the record of an integration leaving the legacy app. Their tables are the `integrations` app's.
- `owner_types.py`: the token-store owners of those settings (`legacy_user_sync`, `legacy_universal_print`,
  `legacy_cloud_storage`).
- `services/migration.py` and `migrate_legacy_integrations`: each tenant's settings become one integration with
  the two legacy app registrations, tokens handed over.
- `services/leaving.py`, `views.py`, `legacy_switch.html`: an integration moves from the legacy app to the
  customer's own, deleting the legacy tokens and telling the users who must reconnect.
- `selectors.py`: the legacy app's id (pre-filled in Set up manually) and the reads above.

Deleting it, once every tenant is migrated and no integration uses the legacy app any more: remove this package,
`tests/integrations/legacy/`, the legacy test of `tests/e2e/test_integrations_over_time.py` and
`integrations.legacy` in INSTALLED_APPS, then the lines that name it
(`grep -rn "integrations.legacy" --include=*.py`): the legacy Application ID in Set up manually (`forms.py`,
`views/add.py`, `services/integrations.py`, which also leaves the legacy app on Edit), the legacy facts on the
integration page (`views/integration.py` and its template's `switch` and `legacy_scopes`) and one URL. Then write a
migration that drops the four tables. What stays in the integrations app is the legacy app as an app kind
(`AppKind.LEGACY`, `Integration.is_legacy`, the LEGACY and LEGACY_USER_SYNC operator apps in settings): remove
those with a data migration of their own when no row uses them.
"""
