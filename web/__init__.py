"""The web front end: the referral landing page, QR codes, health and metrics (FastAPI).

Like ``bots``, it imports only ``core`` and its own frameworks; ``app`` builds it with
``web.app.create_app`` from a ``WebOptions`` and core services, and serves it with
``web.server.serve`` in the event loop the bots and the scheduler share.
"""
