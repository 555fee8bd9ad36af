"""Writes of Universal Print: the connection and the admin's choices (connections), a Printer Administrator's
sign-in (sign_in), the connection's background work (ticks) and taking each job (jobs)."""
