"""Writes of the OneDrive feature: `connection` (the user's token, preferences, disconnect), `browsing`, `printing`
(print requests, their download and the Printed Job preference), `scanning` (deliveries to the scan folder)."""
