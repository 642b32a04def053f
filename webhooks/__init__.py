"""Outgoing webhooks: other systems (a CRM, Slack, a data warehouse) hear about tickets.

``outbox.py`` writes what may concern them in the transaction of the change itself,
``payloads.py`` turns it into documented JSON, ``signing.py`` signs it, ``endpoints.py`` keeps
the admins' endpoints and reads the delivery log, ``service.py`` fans out and delivers with
retries. The HTTP client is injected (:class:`webhooks.service.Sender`): the web adapter gives
one on aiohttp. See docs/webhooks.md.
"""
