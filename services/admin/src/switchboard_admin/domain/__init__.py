"""Pure rules of the admin service: no I/O imports here."""
