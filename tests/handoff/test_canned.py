"""Canned replies' placeholders: a customer whose name is not known (none given, or the web
chat's stand-in "Web visitor 1a2b") gets a neutral text, never the stand-in; the same fill serves
Telegram's /t and the web console (both call handoff.canned.canned_for)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.services import Services
from handoff.agents import add_agent
from handoff.canned import add_canned, canned_for, name_known, render
from handoff.customers import touch_customer
from handoff.tickets import current_ticket

STAND_INS = ["Web visitor 367c", "", "   "]


def test_known_names_fill_in() -> None:
    values = {"name": "Sara", "agent": "Amal", "ticket": 7}
    assert render("Hi {name}, I'm {agent} on #{ticket}. {other}", values) == (
        "Hi Sara, I'm Amal on #7. {other}"
    )
    assert render("مرحباً {name}، معك {agent}", values) == "مرحباً Sara، معك Amal"


def test_unknown_names_leave_a_neutral_text() -> None:
    for stand_in in STAND_INS:
        values = {"name": stand_in, "agent": "Amal", "ticket": 7}
        assert render("Hello {name}, thanks for waiting.", values) == "Hello, thanks for waiting."
        assert render("Thank you {name} for your patience", values) == (
            "Thank you for your patience"
        )
        assert render("{name}, your order is on its way.", values) == "your order is on its way."
        assert render("مرحباً {name}، معك {agent}", values) == "مرحباً، معك Amal"
        assert render("Hi {name}!\n{name}, see #{ticket}", values) == "Hi!\nsee #7"


def test_name_known() -> None:
    assert name_known("Sara") and name_known("Web visitors club")
    assert not any(name_known(n) for n in [*STAND_INS, None])


@given(
    template=st.lists(
        st.sampled_from(["Hi", " ", "{name}", ",", "،", "!", "thanks", "\n", "{agent}"]),
        max_size=12,
    ).map("".join),
    stand_in=st.sampled_from(STAND_INS),
)
def test_an_unknown_name_never_shows(template: str, stand_in: str) -> None:
    out = render(template, {"name": stand_in, "agent": "Amal", "ticket": 1})
    assert "{name}" not in out
    assert "Web visitor" not in out
    assert out.count("Amal") == template.count("{agent}")


async def test_canned_for_a_web_visitor_without_a_name(services: Services) -> None:
    now = services.clock.now()
    async with services.db.transaction() as session:
        agent = await add_agent(session, name="Amal", at=now)
        await add_canned(session, "hi", "Hello {name}, I'm {agent} (#{ticket}).", now)
        rows = {}
        for key, name in (("v1", "Web visitor 367c"), ("v2", "Sara")):
            customer = await touch_customer(
                session,
                channel="web",
                external_id=key,
                name=name,
                username=None,
                language_code="en",
                default_language="en",
                at=now,
            )
            ticket = await current_ticket(session, customer, now)
            rows[name] = ticket.id
        await session.flush()
        anonymous = await canned_for(session, "hi", rows["Web visitor 367c"], agent.id)
        named = await canned_for(session, "hi", rows["Sara"], agent.id)
    assert anonymous == f"Hello, I'm Amal (#{rows['Web visitor 367c']})."
    assert named == f"Hello Sara, I'm Amal (#{rows['Sara']})."
