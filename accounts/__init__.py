"""Who may use Sanad: API tokens, browser sessions and one-time login links.

Domain code with no HTTP in it, so the web adapter, the Telegram bot and the CLI all use it
without importing one another: :mod:`accounts.tokens` (tokens, roles, the :class:`Principal`
a request acts as) and :mod:`accounts.sessions` (sessions opened with a token or a login link).
"""
