"""``taxireg partner links`` through the real entry point on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import zxingcpp
from PIL import Image

from tests.unit.test_cli import Cli, clean_env, one_line_error, write_config


def test_partner_links_by_phone_and_code_with_qr(tmp_path: Path) -> None:
    config = write_config(
        tmp_path / "taxireg.toml", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", tmp_path
    )
    cli = Cli(clean_env(TAXIREG_CONFIG=str(config)))
    added = cli("partner", "add", "--park", "mos", "--phone", "+7 916 555-44-33")
    assert added.returncode == 0, added.stderr
    code = added.stdout.strip().splitlines()[-1]

    qr_file = tmp_path / "partner.png"
    by_phone = cli("partner", "links", "8 916 555 44 33", "--qr", str(qr_file))
    assert by_phone.returncode == 0, by_phone.stderr
    out = by_phone.stdout
    assert f"code {code} of park mos «Мос ГорТакси»" in out
    assert f"landing:     https://mos-gortaxi.ru/ref?code={code}" in out
    assert f"telegram:    https://t.me/mos_gortaxi_bot?start={code}" in out
    assert f"vk:          https://vk.me/mosgortaxi?ref={code}" in out
    decoded = zxingcpp.read_barcodes(Image.open(qr_file).convert("L"))
    assert [r.text for r in decoded] == [f"https://mos-gortaxi.ru/ref?code={code}"]

    as_json = cli(
        "partner", "links", code.upper(), "--src", "flyer", "--public-url",
        "https://reg.example", "--json",
    )  # fmt: skip
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {
            "park": "mos",
            "code": code,
            "source": "flyer",
            "landing": f"https://reg.example/ref?code={code}&src=flyer",
            "telegram": f"https://t.me/mos_gortaxi_bot?start={code}-flyer",
            "vk": f"https://vk.me/mosgortaxi?ref={code}&ref_source=flyer",
            "app_store": None,
            "play_store": None,
        }
    ]

    unknown = cli("partner", "links", "zzzz9999")
    assert unknown.returncode == 1
    assert "no working referral code or partner" in one_line_error(unknown)
    wrong_kind = cli("partner", "links", code, "--qr", str(tmp_path / "qr.jpg"))
    assert wrong_kind.returncode == 1
    assert ".svg or .png" in one_line_error(wrong_kind)
