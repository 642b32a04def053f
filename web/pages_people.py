"""The People page (admins): accounts, invitations, password resets and API tokens; and the
public pages a one-time link opens (``/setup/KEY``, ``/invite/KEY``, ``/reset/KEY``), where a
person chooses a username and a password and is logged in.

What is shown comes from :mod:`accounts.people` and :mod:`accounts.tokens` (frozen read models);
every change is one of their actions (admin checked, event written). A new link or token is
shown once, in the page that answers the form, with a copy button.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

import texts
from accounts import people
from accounts.passwords import MIN_LENGTH
from accounts.people import AccountError
from accounts.tokens import ROLES, AuthError, Principal, end_token, new_token, token_views
from web.api_admin import agent_from_body, save_agent
from web.auth import require, session_redirect
from web.problem import Problem
from web.site import (
    SERVICES,
    address_of,
    https,
    login_throttle,
    render,
    request_lang,
    services_of,
)

LINK_KINDS = ("setup", "invite", "reset")
NEW_AGENT = "new"


def _lang(request: web.Request) -> str:
    return request_lang(request, services_of(request).settings.default_language)


def _say(request: web.Request, exc: AccountError) -> str:
    return texts.text(exc.key, _lang(request), **exc.values)


def base_url(request: web.Request) -> str:
    """The address links are made for: SANAD_PUBLIC_URL, else how this request came."""
    public = services_of(request).settings.public_url.rstrip("/")
    if public:
        return public
    return f"{'https' if https(request) else 'http'}://{request.host}"


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else ""


def _field(form: Any, name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


async def _people_page(
    request: web.Request,
    http_status: int = 200,
    *,
    error: str | None = None,
    made_link: str | None = None,
    made_token: str | None = None,
    invite_values: dict[str, str] | None = None,
) -> web.Response:
    services = services_of(request)
    now = services.clock.now()
    response = render(
        request,
        "people.html",
        http_status,
        active="people",
        accounts=await people.accounts(services.db),
        links=await people.pending_links(services.db, now),
        free_agents=await people.agents_without_account(services.db),
        tokens=await token_views(services.db),
        roles=ROLES,
        error=error,
        made_link=made_link,
        made_token=made_token,
        invite_values=invite_values or {"role": "agent", "agent": NEW_AGENT},
        hours=services.settings.account_link_hours,
        when=when,
    )
    response.headers["Cache-Control"] = "no-store"  # a new link or token is in it
    return response


async def people_page(request: web.Request) -> web.Response:
    require(request, "admin")
    values = {"role": "agent", "agent": request.query.get("agent", NEW_AGENT)}
    return await _people_page(request, invite_values=values)


async def _new_agent(request: web.Request, form: Any, role: str, name: str) -> int:
    """The agent an invitation for a new agent is for, added to the roster now (offline)."""
    body: dict[str, Any] = {"name": name, "role": role}
    capacity = _field(form, "capacity")
    if capacity:
        body["capacity"] = int(capacity) if capacity.isdigit() else capacity
    languages = [w.strip() for w in _field(form, "languages").split(",") if w.strip()]
    if languages:
        body["languages"] = languages
    agent, _created = await save_agent(services_of(request), agent_from_body(body))
    return int(agent["id"])


async def invite(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    form = await request.post()
    values = {k: _field(form, k) for k in ("role", "name", "email", "agent", "languages")}
    values["capacity"] = _field(form, "capacity")
    role, chosen = values["role"], values["agent"]
    agent_id: int | None = None
    try:
        if role in people.AGENT_ROLES and chosen.isdigit():
            agent_id = int(chosen)
        elif role == "agent" or (role == "supervisor" and chosen == NEW_AGENT):
            # Checked before the agent is added, so a refused invitation adds nobody.
            if not values["name"]:
                raise AccountError("account.needs_name")
            await people.check_email_free(services.db, values["email"] or None)
            agent_id = await _new_agent(request, form, role, values["name"])
        key = await people.invite(
            services.db,
            principal,
            role=role,
            name=values["name"],
            email=values["email"] or None,
            agent_id=agent_id,
            at=services.clock.now(),
            hours=services.settings.account_link_hours,
        )
    except AccountError as exc:
        return await _people_page(request, 400, error=_say(request, exc), invite_values=values)
    except Problem as problem:  # the new agent's fields
        return await _people_page(
            request, problem.status, error=problem.message, invite_values=values
        )
    link = base_url(request) + people.link_path("invite", key)
    return await _people_page(request, 201, made_link=link)


def _id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit():
        raise web.HTTPNotFound(reason="no such id")
    return int(raw)


async def reset(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    try:
        key = await people.reset_link(
            services.db,
            principal,
            _id(request),
            services.clock.now(),
            services.settings.account_link_hours,
        )
    except AccountError as exc:
        return await _people_page(request, 404, error=_say(request, exc))
    return await _people_page(
        request, 201, made_link=base_url(request) + people.link_path("reset", key)
    )


async def _disable(request: web.Request, disabled: bool) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    try:
        await people.set_disabled(
            services.db, principal, _id(request), disabled, services.clock.now()
        )
    except AccountError as exc:
        return await _people_page(request, 409, error=_say(request, exc))
    raise web.HTTPFound("/people")


async def disable(request: web.Request) -> web.Response:
    return await _disable(request, True)


async def enable(request: web.Request) -> web.Response:
    return await _disable(request, False)


async def revoke_link(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    await people.revoke_link(services.db, principal, _id(request), services.clock.now())
    raise web.HTTPFound("/people")


async def token_create(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    form = await request.post()
    agent = _field(form, "agent_id")
    try:
        _token_id, raw = await new_token(
            services.db,
            principal,
            name=_field(form, "name"),
            role=_field(form, "role"),
            agent_id=int(agent) if agent.isdigit() else None,
            at=services.clock.now(),
        )
    except AuthError as exc:
        return await _people_page(request, 400, error=str(exc))
    return await _people_page(request, 201, made_token=raw)


async def token_revoke(request: web.Request) -> web.Response:
    principal = require(request, "admin")
    services = services_of(request)
    await end_token(services.db, principal, _id(request), services.clock.now())
    raise web.HTTPFound("/people#tokens")


# ---------------------------------------------------------------------- the links' pages


def _kind(request: web.Request) -> str:
    kind = request.path.split("/")[1]
    assert kind in LINK_KINDS
    return kind


def _link_page(
    request: web.Request,
    info: people.LinkInfo | None,
    http_status: int = 200,
    error: str | None = None,
    username: str = "",
) -> web.Response:
    response = render(
        request,
        "account_link.html",
        http_status,
        kind=_kind(request),
        info=info,
        error=error,
        username=username,
        min_length=MIN_LENGTH,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


async def link_page(request: web.Request) -> web.Response:
    services = services_of(request)
    login_throttle(request)
    info = await people.link_info(
        services.db, request.match_info["key"], _kind(request), services.clock.now()
    )
    if info is None:
        services.flood.login_failed(address_of(request))
        error = texts.text("account.link_invalid", _lang(request))
        return _link_page(request, None, 404, error)
    return _link_page(request, info)


def landing(principal: Principal) -> str:
    """Where a person goes once logged in: the console for an agent, else their first page."""
    if principal.agent_id is not None and principal.role in ("agent", "supervisor"):
        return "/agent"
    return "/faq" if principal.role == "editor" else "/dashboard"


async def link_accept(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    login_throttle(request)
    kind, key = _kind(request), request.match_info["key"]
    form = await request.post()
    now = services.clock.now()
    info = await people.link_info(services.db, key, kind, now)
    if info is None:
        services.flood.login_failed(address_of(request))
        error = texts.text("account.link_invalid", _lang(request))
        return _link_page(request, None, 404, error)
    username = _field(form, "username")
    password = str(form.get("password", ""))
    if password != str(form.get("password_again", "")):
        error = texts.text("password.mismatch", _lang(request))
        return _link_page(request, info, 400, error, username)
    try:
        cookie, principal = await people.accept_link(
            services.db,
            key,
            kind,
            username=username,
            password=password,
            email=_field(form, "email") if "email" in form and kind != "reset" else None,
            at=now,
        )
    except AccountError as exc:
        return _link_page(request, info, 400, _say(request, exc), username)
    raise session_redirect(cookie, landing(principal), secure=https(request))


def register(app: web.Application) -> None:
    """Add this module's routes to the app."""
    app.router.add_get("/people", people_page)
    app.router.add_post("/people/invite", invite)
    app.router.add_post("/people/{id}/reset", reset)
    app.router.add_post("/people/{id}/disable", disable)
    app.router.add_post("/people/{id}/enable", enable)
    app.router.add_post("/people/links/{id}/revoke", revoke_link)
    app.router.add_post("/people/tokens", token_create)
    app.router.add_post("/people/tokens/{id}/revoke", token_revoke)
    for kind in LINK_KINDS:
        app.router.add_get(f"/{kind}/{{key}}", link_page)
        app.router.add_post(f"/{kind}/{{key}}", link_accept)
