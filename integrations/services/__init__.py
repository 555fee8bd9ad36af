"""Writes for Microsoft integrations: integrations, features and the rule, consent flows, feature tokens."""
