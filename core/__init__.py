"""Channel-neutral domain and registration flow.

Nothing here imports a bot framework, the database layer or the scheduler: front ends
translate updates into core events, core answers with replies, and storage implements
the ports declared in ``core.ports``.
"""
