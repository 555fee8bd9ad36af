"""A local emulator of the Microsoft identity platform (Entra ID v2.0 endpoints) for tests and the demo.

Run it with ``python -m m365_emulator --seed FILE --state-dir DIR``; see docs/emulator.md.
It never imports Django: it is a separate process that speaks Microsoft's wire formats.
"""
