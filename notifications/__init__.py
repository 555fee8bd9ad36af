"""Telling people about problems: an email to a tenant's admins (or to the person who can fix it) once per problem.

It sits above the mail layer and the apps whose problems it reports. Apps above it call `admins_notify` /
`admins_notification_clear` (notifications.services); the token store, below it, reports a credential that
needs a person through its signals (credentials.signals), which `notifications.receivers` turns into notices.
"""
