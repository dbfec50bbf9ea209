"""``taxireg partner links PHONE_OR_CODE [--qr FILE]``: every link of a partner's code.

The links come from the landing service, the same code the web page and its QR codes use,
so what the operator prints is exactly what a driver will open.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from core.services.landing import LandingPage

_QR_KINDS = (".svg", ".png")


def register_partner_links(commands: Any) -> None:
    parser = commands.add_parser(
        "links",
        help="print the landing, Telegram and VK links of a partner's code",
        description="Print every registration link of a referral code: the landing page, the "
        "Telegram bot and the VK community. A phone number finds the partner's code in every "
        "park.",
    )
    parser.add_argument("who", metavar="PHONE_OR_CODE")
    parser.add_argument(
        "--qr",
        metavar="FILE",
        type=Path,
        help="also write the QR code of the landing page to FILE (.svg or .png)",
    )
    parser.add_argument("--src", metavar="TAG", help="a source tag carried by every link")
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="where the web front end is reached (default: the park's landing_url)",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=links_handler)


def page_json(page: LandingPage) -> dict[str, Any]:
    links = page.links
    return {
        "park": page.park.slug,
        "code": page.code,
        "source": page.source,
        "landing": links.page,
        "telegram": links.telegram,
        "vk": links.vk,
        "app_store": links.app_store,
        "play_store": links.play_store,
    }


async def links_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json
    from app.wiring_web import landing_service
    from core.domain.errors import DomainError

    if args.qr is not None and args.qr.suffix.lower() not in _QR_KINDS:
        raise DomainError(f"--qr FILE must end in .svg or .png, not {args.qr.name[:60]!r}")
    container = await ctx.container()
    service = landing_service(container, args.public_url)
    pages = await service.partner_pages(args.who, args.src)
    if not pages:
        raise DomainError(f"no working referral code or partner for {args.who[:40]!r}")
    if args.qr is not None:
        if len(pages) > 1:
            raise DomainError(f"the phone has codes in {len(pages)} parks; give one code for --qr")
        _write_qr(args.qr, pages[0].links.page)
    if args.json:
        emit_json([page_json(p) for p in pages])
        return 0
    for number, page in enumerate(pages):
        if number:
            print()
        print(f"code {page.code} of park {page.park.slug} «{page.park.name}»")
        for label, url in (
            ("landing", page.links.page),
            ("telegram", page.links.telegram),
            ("vk", page.links.vk),
            ("app store", page.links.app_store),
            ("google play", page.links.play_store),
        ):
            if url:
                print(f"  {label + ':':<13}{url}")
    if args.qr is not None:
        print(f"QR code of {pages[0].links.page} written to {args.qr}")
    return 0


def _write_qr(path: Path, url: str) -> None:
    from web import qr

    data = qr.png_file(url) if path.suffix.lower() == ".png" else qr.svg_file(url)
    path.write_bytes(data)
