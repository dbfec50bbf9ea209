"""An admin change of a registration code that would make the referral chain a cycle is
refused with its reason and changes nothing, through the admin service on real databases."""

from __future__ import annotations

import pytest

from app.bootstrap import Container
from core.domain.errors import CodeRefused
from core.domain.model import Channel, Identity
from core.events import Incoming, Start, Text
from tests.fakes.sms import RecordingSms

A, B, C = "+79160000001", "+79160000002", "+79160000003"


async def register(app: Container, sms: RecordingSms, phone: str, code: str | None) -> str:
    who = Identity(Channel.TERMINAL, f"user-{phone}")
    for event in (Start(), Text(phone), None, Text(code or "У меня нет реферального кода")):
        answer = await app.registration.handle(
            Incoming("mos", who, event or Text(sms.last_code()))
        )
    # The code's reply, wherever the flow puts it among the last answer's replies.
    (code_reply,) = [r for r in answer.replies if r.key == "driver-code"]
    return str(code_reply.args["code"])


async def test_a_code_change_closing_a_loop_is_refused(
    container: Container, sms: RecordingSms
) -> None:
    a = await register(container, sms, A, None)
    b = await register(container, sms, B, a)  # a <- b
    c = await register(container, sms, C, b)  # a <- b <- c

    for code in (b, c):  # a referred by b (direct loop) or by c (two levels down)
        with pytest.raises(CodeRefused, match=f"referral code {code} would make the referral"):
            await container.admin.set_entered_code("mos", A, code, "op")
    card = await container.admin.driver_card("mos", A)
    assert card.driver.entered_code is None
    assert not card.audit

    # Not a loop: c moves from b to a, and a partner may refer anyone.
    moved = await container.admin.set_entered_code("mos", C, a, "op")
    assert moved.driver.entered_code == a
    partner = await container.admin.add_partner("mos", "+79161110001", None)
    top = await container.admin.set_entered_code("mos", A, partner.code, "op")
    assert top.driver.entered_code == partner.code
    # partner <- a <- {b, c}: b under c is no loop now, and c above a still is.
    again = await container.admin.set_entered_code("mos", B, c, "op")
    assert again.driver.entered_code == c
    with pytest.raises(CodeRefused, match="cycle"):
        await container.admin.set_entered_code("mos", A, b, "op")
    assert (await container.admin.driver_card("mos", A)).driver.entered_code == partner.code
