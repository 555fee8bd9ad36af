"""The pages of Administration > Integrations and My Settings > Cloud Services, one module per area:

- `integration`: the list, one integration's page, Edit and Delete;
- `add`: the Add Integration wizard (provider, mode, Create automatically, Set up manually) and the set-up guide;
- `directory`: Select tenant and Prove directory, the sign-ins that bind a Microsoft directory;
- `features`: enable, disable and grant consent to one feature;
- `reapply`: Reapply Consents, one app's admin consent after another;
- `callbacks`: where Microsoft sends the browser back (sign-ins and admin consents);
- `cloud_services`: a user connects their own OneDrive.

Leaving the legacy app has its page in `integrations.legacy.views`.
"""
