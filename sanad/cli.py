"""The ``sanad`` command: run the service, migrate the database, edit the FAQ, manage customers.

    sanad [--config FILE] run
    sanad web
    sanad tokens create --role editor|supervisor|admin|agent --name NAME [--agent ID]
    sanad tokens list | tokens revoke ID
    sanad admin setup-link     (a one-time link that creates an admin account)
    sanad db upgrade
    sanad search reindex
    sanad faq import FILE [--format jsonl|csv]
    sanad faq export [FILE] [--format jsonl|csv] [--lang en|ar]
    sanad faq add --id ID --lang en --question Q --answer A [--phrasing P ...] ...
    sanad faq list [--lang L] | show ID [--lang L] | remove ID [--lang L]
    sanad customers tier --telegram-id ID vip|normal
    sanad customers vip ENTRY... [--note TEXT] | --file vips.csv | --list | --remove ENTRY
          (ENTRY: telegram:ID, @username, web:KEY or an email; not seen yet: VIP on first
          contact, see handoff/vip_list.py)
    sanad agents add [--telegram-id ID] --name NAME [--skills a,b] [--languages en,ar]
                     [--capacity N] [--role agent|supervisor] [--priority N]
    sanad agents list | sanad agents remove --telegram-id ID | --id ID
    sanad canned add SHORTCUT TEXT [--lang en|ar] | sanad canned list | sanad canned remove SHORTCUT

Every command reads the same settings (environment and ``--config``); a bad setting stops it
with a message that names the setting (exit status 2). Errors in input say what is wrong and
change nothing (exit status 1).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from app.config import ConfigError, Settings, load_settings
from app.services import Services
from base.logs import setup_logging
from faq import io as faq_io
from faq.articles import (
    ArticleError,
    list_articles,
    remove_article,
    to_article_in,
    upsert_articles,
    validate_article,
)
from handoff import search
from handoff.agents import (
    AgentError,
    add_agent,
    find_agent,
    list_agents,
    open_ticket_counts,
    remove_agent,
)
from handoff.canned import CannedError, add_canned, list_canned, remove_canned
from handoff.customers import find_customer, set_tier
from handoff.people import register_vip
from handoff.vip_list import VipListError, list_entries, parse_entry, parse_file, remove_entry


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 1."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sanad", description="Sanad: customer-support bot with FAQ self-service and handoff."
    )
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser("run", help="start the bot and the web server")
    sub.add_parser("web", help="start the web server alone (no Telegram bot)")

    tokens = sub.add_parser("tokens", help="API and page tokens").add_subparsers(
        dest="tokens_command", required=True, metavar="ACTION"
    )
    tok_create = tokens.add_parser("create", help="create a token (printed once)")
    tok_create.add_argument(
        "--role", required=True, choices=("editor", "supervisor", "admin", "agent")
    )
    tok_create.add_argument("--name", required=True)
    tok_create.add_argument(
        "--agent", type=int, help="the agent the token belongs to (needed for --role agent)"
    )
    tokens.add_parser("list", help="list tokens (never their values)")
    tok_revoke = tokens.add_parser("revoke", help="revoke a token by id")
    tok_revoke.add_argument("id", type=int)

    admin = sub.add_parser("admin", help="admin accounts").add_subparsers(
        dest="admin_command", required=True, metavar="ACTION"
    )
    admin.add_parser(
        "setup-link", help="a one-time link that creates an admin account (the first one lost)"
    )

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply the schema migrations")

    search_p = sub.add_parser("search", help="ticket search").add_subparsers(
        dest="search_command", required=True
    )
    search_p.add_parser(
        "reindex",
        help="rebuild the search documents from every ticket and message (after a bulk load "
        "that bypassed Sanad; the migration indexed what existed then)",
    )

    faq = sub.add_parser("faq", help="FAQ articles").add_subparsers(
        dest="faq_command", required=True, metavar="ACTION"
    )
    imp = faq.add_parser("import", help="import articles from JSON Lines or CSV (all or nothing)")
    imp.add_argument("file")
    imp.add_argument("--format", choices=faq_io.FORMATS)
    exp = faq.add_parser("export", help="export articles (to stdout without FILE)")
    exp.add_argument("file", nargs="?")
    exp.add_argument("--format", choices=faq_io.FORMATS)
    exp.add_argument("--lang", choices=("en", "ar"))
    add = faq.add_parser("add", help="add or replace one article")
    add.add_argument("--id", required=True)
    add.add_argument("--lang", required=True, choices=("en", "ar"))
    add.add_argument("--question", required=True)
    add.add_argument("--answer", required=True)
    add.add_argument("--phrasing", action="append", default=[], help="repeat for several")
    add.add_argument("--category", default="")
    add.add_argument("--tags", default="", help="comma-separated")
    add.add_argument("--draft", action="store_true", help="save as a draft (not answered)")
    lst = faq.add_parser("list", help="list articles")
    lst.add_argument("--lang", choices=("en", "ar"))
    for name, text in (("show", "show an article"), ("remove", "delete an article")):
        p = faq.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--lang", choices=("en", "ar"))

    customers = sub.add_parser("customers", help="customers").add_subparsers(
        dest="customers_command", required=True
    )
    tier = customers.add_parser("tier", help="set a customer's tier (vip raises priority)")
    tier.add_argument("--telegram-id", required=True)
    tier.add_argument("tier", choices=("vip", "normal"))
    vip = customers.add_parser(
        "vip",
        help="make customers VIP, also before they first write "
        "(telegram:ID, @username, web:KEY, email)",
    )
    vip.add_argument("entries", nargs="*", metavar="ENTRY")
    vip.add_argument("--note", default="", help="why (kept with entries not seen yet)")
    vip.add_argument("--file", type=Path, help="a CSV file: entry[,note] per line")
    vip.add_argument("--list", action="store_true", help="the entries waiting for a customer")
    vip.add_argument("--remove", metavar="ENTRY", help="forget an entry")

    agents = sub.add_parser("agents", help="the agent pool").add_subparsers(
        dest="agents_command", required=True, metavar="ACTION"
    )
    add_agent_p = agents.add_parser("add", help="register (or update) an agent")
    add_agent_p.add_argument(
        "--telegram-id", help="their Telegram user id (without: the web console only)"
    )
    add_agent_p.add_argument("--name", required=True)
    add_agent_p.add_argument("--skills", default="", help="categories, comma-separated")
    add_agent_p.add_argument("--languages", default="", help="e.g. en,ar (empty: any)")
    add_agent_p.add_argument("--capacity", type=int, default=1, help="concurrent chats")
    add_agent_p.add_argument("--role", choices=("agent", "supervisor"), default="agent")
    add_agent_p.add_argument(
        "--priority", type=int, default=0, help="routing rank for agent_priority (lower first)"
    )
    agents.add_parser("list", help="list agents with status and load")
    rm_agent = agents.add_parser("remove", help="remove an agent")
    rm_who = rm_agent.add_mutually_exclusive_group(required=True)
    rm_who.add_argument("--telegram-id")
    rm_who.add_argument("--id", type=int, help="the agent's id (sanad agents list)")

    canned = sub.add_parser("canned", help="canned replies for agents").add_subparsers(
        dest="canned_command", required=True, metavar="ACTION"
    )
    canned_add = canned.add_parser(
        "add", help="add or replace a reply; placeholders {name}, {agent}, {ticket}"
    )
    canned_add.add_argument("shortcut")
    canned_add.add_argument("text")
    canned_add.add_argument("--lang", choices=("en", "ar"), default="", help="default: any")
    canned.add_parser("list", help="list canned replies")
    canned_rm = canned.add_parser("remove", help="remove a reply (every language)")
    canned_rm.add_argument("shortcut")
    return parser


async def _with_services(settings: Settings, action: Callable[[Services], Awaitable[int]]) -> int:
    services = Services.create(settings)
    try:
        await services.db.upgrade()
        return await action(services)
    finally:
        await services.close()


async def _faq_import(services: Services, path: str, fmt: str | None, out: TextIO) -> int:
    file = Path(path)
    try:
        fmt = faq_io.guess_format(file, fmt)
        data = await asyncio.to_thread(file.read_bytes)
        parsed = faq_io.parse(data, fmt)
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except faq_io.ImportFileError as exc:
        raise CommandError(f"{path}: {exc}") from None
    if parsed.errors:
        for error in parsed.errors:
            print(f"{path}: {error}", file=sys.stderr)
        raise CommandError(
            f"{path}: {len(parsed.errors)} bad row(s); nothing was imported. "
            "Fix them and import again."
        )
    if not parsed.articles:
        raise CommandError(f"{path}: no articles in the file; nothing was imported")
    async with services.db.transaction() as session:
        result = await upsert_articles(session, parsed.articles, services.clock.now())
    print(
        f"imported {len(parsed.articles)} article(s): {len(result.created)} new, "
        f"{len(result.updated)} updated, {len(result.unchanged)} unchanged",
        file=out,
    )
    return 0


async def _faq_export(
    services: Services, path: str | None, fmt: str | None, lang: str | None, out: TextIO
) -> int:
    try:
        fmt = faq_io.guess_format(path, fmt) if path else (fmt or "jsonl")
        async with services.db.transaction() as session:
            rows = await list_articles(session, lang=lang)
            text = faq_io.dump([to_article_in(r) for r in rows], fmt)
    except faq_io.ImportFileError as exc:
        raise CommandError(str(exc)) from None
    if path:
        await asyncio.to_thread(Path(path).write_text, text, encoding="utf-8")
        print(f"exported {len(rows)} article(s) to {path}", file=out)
    else:
        out.write(text)
    return 0


async def _faq_add(services: Services, args: argparse.Namespace, out: TextIO) -> int:
    try:
        article = validate_article(
            {
                "id": args.id,
                "lang": args.lang,
                "question": args.question,
                "answer": args.answer,
                "phrasings": args.phrasing,
                "category": args.category,
                "tags": [t for t in args.tags.split(",") if t.strip()],
                "status": "draft" if args.draft else "published",
            }
        )
    except ArticleError as exc:
        raise CommandError(str(exc)) from None
    async with services.db.transaction() as session:
        result = await upsert_articles(session, [article], services.clock.now())
    verb = "added" if result.created else "updated" if result.updated else "unchanged"
    print(f"{verb}: {article.id} ({article.lang})", file=out)
    return 0


async def _faq_list(services: Services, lang: str | None, out: TextIO) -> int:
    async with services.db.transaction() as session:
        rows = await list_articles(session, lang=lang)
    for r in rows:
        flag = "" if r.status == "published" else f" [{r.status}]"
        print(f"{r.slug}\t{r.lang}\t{r.category or '-'}\t{r.question}{flag}", file=out)
    print(f"{len(rows)} article(s)", file=out)
    return 0


async def _faq_show(services: Services, slug: str, lang: str | None, out: TextIO) -> int:
    async with services.db.transaction() as session:
        rows = await list_articles(session, slug=slug, lang=lang)
    if not rows:
        raise CommandError(f"no article {slug!r}" + (f" in {lang}" if lang else ""))
    for r in rows:
        print(f"id:        {r.slug}\nlanguage:  {r.lang}\nstatus:    {r.status}", file=out)
        print(f"category:  {r.category or '-'}\ntags:      {', '.join(r.tags) or '-'}", file=out)
        print(f"updated:   {r.updated_at:%Y-%m-%d %H:%M} UTC\nquestion:  {r.question}", file=out)
        for p in r.phrasings:
            print(f"  also:    {p}", file=out)
        print(f"answer:\n{r.answer}\n", file=out)
    return 0


async def _faq_remove(services: Services, slug: str, lang: str | None, out: TextIO) -> int:
    async with services.db.transaction() as session:
        removed = await remove_article(session, slug, lang, services.clock.now())
    if not removed:
        raise CommandError(f"no article {slug!r}" + (f" in {lang}" if lang else ""))
    print(f"removed: {', '.join(removed)}", file=out)
    return 0


async def _customer_tier(services: Services, telegram_id: str, tier: str, out: TextIO) -> int:
    async with services.db.transaction() as session:
        customer = await find_customer(session, "telegram", telegram_id)
        if customer is None:
            raise CommandError(
                f"no Telegram customer with id {telegram_id}: they must write to the bot first"
            )
        await set_tier(session, customer, tier, services.clock.now())
    print(f"customer {telegram_id} ({customer.name}) is now {tier}", file=out)
    return 0


async def _customer_vip(services: Services, args: argparse.Namespace, out: TextIO) -> int:
    """``sanad customers vip``: seen customers become VIP now, others on first contact."""
    now = services.clock.now()
    if args.list:
        for e in await list_entries(services.db):
            matched = f"matched customer {e.matched_customer_id}" if e.matched_customer_id else ""
            print(f"{e.entry}\t{e.note}\t{matched}".rstrip(), file=out)
        return 0
    try:
        if args.remove:
            async with services.db.transaction() as session:
                gone = await remove_entry(session, parse_entry(args.remove), now, "cli")
            if not gone:
                raise CommandError(f"{args.remove!r} is not on the VIP list")
            print(f"removed {args.remove}", file=out)
            return 0
        entries = [(parse_entry(raw), args.note) for raw in args.entries]
        if args.file is not None:
            try:
                content = args.file.read_text(encoding="utf-8-sig")
            except OSError as exc:
                raise CommandError(f"cannot read {args.file}: {exc.strerror}") from None
            entries += parse_file(content)
    except VipListError as exc:
        raise CommandError(str(exc)) from None
    if not entries:
        raise CommandError("name at least one customer (or --file, --list, --remove)")
    for entry, note in entries:
        outcome, changed = await register_vip(services.db, entry, note, now)
        if outcome == "set":
            ids = ", ".join(str(i) for i in changed) or "already VIP"
            print(f"{entry}: VIP now (customers {ids})", file=out)
        elif outcome == "registered":
            print(f"{entry}: not seen yet, VIP from their first message", file=out)
        else:
            print(f"{entry}: on the list already", file=out)
    return 0


async def _agents(services: Services, args: argparse.Namespace, out: TextIO) -> int:
    now = services.clock.now()
    async with services.db.transaction() as session:
        if args.agents_command == "add":
            try:
                agent = await add_agent(
                    session,
                    name=args.name,
                    at=now,
                    telegram_id=args.telegram_id,
                    role=args.role,
                    skills=args.skills.split(","),
                    languages=args.languages.split(","),
                    capacity=args.capacity,
                    routing_priority=args.priority,
                )
            except AgentError as exc:
                raise CommandError(str(exc)) from None
            where = f"Telegram {agent.telegram_id}" if agent.telegram_id else "web console only"
            print(f"agent {agent.id}: {agent.name} ({where})", file=out)
        elif args.agents_command == "list":
            loads = await open_ticket_counts(session)
            rows = await list_agents(session)
            for a in rows:
                print(
                    f"{a.id}\t{a.name}\t{a.role}\ttelegram:{a.telegram_id or '-'}\t{a.status}\t"
                    f"{loads.get(a.id, 0)}/{a.capacity}\tskills:{','.join(a.skills) or 'any'}\t"
                    f"languages:{','.join(a.languages) or 'any'}",
                    file=out,
                )
            print(f"{len(rows)} agent(s)", file=out)
        else:
            if args.id is not None:
                found = await find_agent(session, agent_id=args.id)
            else:
                found = await find_agent(session, telegram_id=args.telegram_id)
            if found is None:
                which = (
                    f"id {args.id}" if args.id is not None else f"Telegram id {args.telegram_id}"
                )
                raise CommandError(f"no agent with {which}")
            try:
                await remove_agent(session, found, now)
            except AgentError as exc:
                raise CommandError(str(exc)) from None
            print(f"removed agent {found.name}", file=out)
    return 0


async def _canned(services: Services, args: argparse.Namespace, out: TextIO) -> int:
    now = services.clock.now()
    async with services.db.transaction() as session:
        if args.canned_command == "add":
            try:
                row = await add_canned(session, args.shortcut, args.text, now, args.lang)
            except CannedError as exc:
                raise CommandError(str(exc)) from None
            print(f"saved /t {row.shortcut}{f' ({row.lang})' if row.lang else ''}", file=out)
        elif args.canned_command == "list":
            rows = await list_canned(session)
            for r in rows:
                print(f"{r.shortcut}\t{r.lang or 'any'}\t{r.text}", file=out)
            print(f"{len(rows)} canned repl{'y' if len(rows) == 1 else 'ies'}", file=out)
        else:
            if not await remove_canned(session, args.shortcut, now):
                raise CommandError(f"no canned reply {args.shortcut!r}")
            print(f"removed {args.shortcut}", file=out)
    return 0


async def _tokens(services: Services, args: argparse.Namespace, out: TextIO) -> int:
    from accounts.tokens import AuthError, create_token, list_tokens, revoke_token

    now = services.clock.now()
    async with services.db.transaction() as session:
        if args.tokens_command == "create":
            try:
                row, raw = await create_token(
                    session, name=args.name, role=args.role, at=now, agent_id=args.agent
                )
            except AuthError as exc:
                raise CommandError(str(exc)) from None
            print(f"token {row.id} ({row.role}, {row.name}); shown once, keep it safe:", file=out)
            print(raw, file=out)
        elif args.tokens_command == "list":
            for t in await list_tokens(session):
                state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
                owner = f"\tagent {t.agent_id}" if t.agent_id else ""
                print(f"{t.id}\t{t.role}\t{t.name}\t{t.prefix}…\t{state}{owner}", file=out)
        elif not await revoke_token(session, args.id, now):
            raise CommandError(f"no active token {args.id}")
        else:
            print(f"revoked token {args.id}", file=out)
    return 0


async def _admin_setup_link(services: Services, out: TextIO) -> int:
    from accounts.people import link_path, setup_link

    settings = services.settings
    key = await setup_link(
        services.db, services.clock.now(), settings.account_link_hours, only_first=False
    )
    assert key is not None
    base = settings.public_url.rstrip("/") or f"http://localhost:{settings.web_port}"
    print(
        f"Open this link to create an admin account (it works once, for "
        f"{settings.account_link_hours:g} h):",
        file=out,
    )
    print(f"{base}{link_path('setup', key)}", file=out)
    return 0


def _run_command(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    if args.command == "tokens":
        return asyncio.run(_with_services(settings, lambda s: _tokens(s, args, out)))
    if args.command == "admin":
        return asyncio.run(_with_services(settings, lambda s: _admin_setup_link(s, out)))
    if args.command == "web":
        from dataclasses import replace

        args.command = "run"
        settings = replace(settings, telegram_token="")
    if args.command == "run":
        from telegram.error import InvalidToken, NetworkError

        from sanad.runner import serve

        try:
            asyncio.run(serve(settings, out=out, freeze_heap=True))
        except InvalidToken:
            raise CommandError(
                "SANAD_TELEGRAM_TOKEN: the Bot API server at "
                f"{settings.telegram_base_url} rejected the token; check it with @BotFather"
            ) from None
        except NetworkError as exc:
            raise CommandError(
                f"cannot reach the Bot API server at {settings.telegram_base_url} ({exc}); "
                "check SANAD_TELEGRAM_BASE_URL or the network"
            ) from None
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {settings.web_host}:{settings.web_port} ({exc.strerror}); "
                "set SANAD_WEB_HOST / SANAD_WEB_PORT"
            ) from None
        return 0
    if args.command == "db":
        return asyncio.run(_with_services(settings, _noop(out, "database is up to date")))
    if args.command == "search":
        return asyncio.run(_with_services(settings, lambda s: _search_reindex(s, out)))
    if args.command == "canned":
        return asyncio.run(_with_services(settings, lambda s: _canned(s, args, out)))
    if args.command == "agents":
        return asyncio.run(_with_services(settings, lambda s: _agents(s, args, out)))
    if args.command == "customers" and args.customers_command == "vip":
        return asyncio.run(_with_services(settings, lambda s: _customer_vip(s, args, out)))
    if args.command == "customers":
        return asyncio.run(
            _with_services(settings, lambda s: _customer_tier(s, args.telegram_id, args.tier, out))
        )
    action: Callable[[Services], Awaitable[int]]
    match args.faq_command:
        case "import":
            action = lambda s: _faq_import(s, args.file, args.format, out)  # noqa: E731
        case "export":
            action = lambda s: _faq_export(s, args.file, args.format, args.lang, out)  # noqa: E731
        case "add":
            action = lambda s: _faq_add(s, args, out)  # noqa: E731
        case "list":
            action = lambda s: _faq_list(s, args.lang, out)  # noqa: E731
        case "show":
            action = lambda s: _faq_show(s, args.id, args.lang, out)  # noqa: E731
        case _:
            action = lambda s: _faq_remove(s, args.id, args.lang, out)  # noqa: E731
    return asyncio.run(_with_services(settings, action))


async def _search_reindex(services: Services, out: TextIO) -> int:
    counts = await search.rebuild_index(services.db)
    print(f"indexed {counts['tickets']} tickets and {counts['messages']} messages", file=out)
    return 0


def _noop(out: TextIO, message: str) -> Callable[[Services], Awaitable[int]]:
    async def action(_services: Services) -> int:
        print(message, file=out)
        return 0

    return action


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(config_file=args.config)
    except ConfigError as exc:
        print(f"sanad: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(
        settings.log_level,
        settings.log_format,
        secrets=(settings.telegram_token, settings.webhook_secret),
    )
    if args.command != "run":
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        return _run_command(args, settings, out)
    except CommandError as exc:
        print(f"sanad: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
