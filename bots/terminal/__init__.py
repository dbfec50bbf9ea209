"""The terminal front end: the registration flow over stdin/stdout (``taxireg demo``)."""
