"""The landing page's HTML: one small document, no external assets, mobile first.

Every text comes from the catalog and every value is HTML-escaped here; the only script is
the copy button's, allowed by a per-response nonce in the Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from string import Template

from core.domain.model import Park
from core.services.landing import LandingMiss, LandingPage
from core.texts import Catalog

_CSS = """
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
background:#f4f5f7;color:#16181d}
main{max-width:28rem;margin:0 auto;padding:1.25rem 1rem 2rem}
h1{font-size:1.35rem;margin:.25rem 0 1rem}
.card{background:#fff;border-radius:1rem;padding:1rem;box-shadow:0 1px 3px rgba(0,0,0,.08)}
.label{margin:0;color:#5b6270;font-size:.9rem}
.code-row{display:flex;gap:.5rem;align-items:center;flex-wrap:wrap;margin:.25rem 0 .5rem}
#code{font:700 2.4rem/1.1 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
letter-spacing:.08em;word-break:break-all}
button,.btn{font:inherit;border:0;border-radius:.75rem;cursor:pointer}
#copy{padding:.5rem .9rem;background:#e7e9ee;color:#16181d}
.buttons{display:grid;gap:.6rem;margin:1rem 0}
.btn{display:block;padding:.9rem 1rem;text-align:center;text-decoration:none;color:#fff;
font-weight:600}
.tg{background:#229ed9}.vk{background:#0077ff}.store{background:#16181d}
.hint{color:#5b6270;font-size:.9rem}
figure{margin:1.25rem 0 0;text-align:center}
figure svg{width:11rem;height:11rem;background:#fff}
figcaption{color:#5b6270;font-size:.85rem}
.park{margin:1rem 0 .25rem;font-weight:600}
"""

_JS = """
document.getElementById("copy").addEventListener("click", function () {
  var button = this, code = document.getElementById("code");
  function done() { button.textContent = button.dataset.copied; }
  function select() {
    var range = document.createRange(), sel = window.getSelection();
    range.selectNodeContents(code); sel.removeAllRanges(); sel.addRange(range);
    try { if (document.execCommand("copy")) { done(); } } catch (e) { /* left selected */ }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(code.textContent).then(done, select);
  } else { select(); }
});
"""

_DOCUMENT = Template("""<!doctype html>
<html lang="$lang">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>$title</title>
<style nonce="$nonce">$css</style>
</head>
<body>
<main>
$body
</main>
$script
</body>
</html>
""")


class Texts:
    """The catalog in one language, escaped for HTML."""

    def __init__(self, catalog: Catalog, lang: str) -> None:
        self.catalog = catalog
        self.lang = lang

    def __call__(self, key: str, args: Mapping[str, object] | None = None) -> str:
        return escape(self.catalog.text(self.lang, key, args))


def landing_html(texts: Texts, page: LandingPage, qr_svg: str, nonce: str) -> str:
    t = texts
    park = {"park": page.park.name}
    links = page.links
    buttons = [
        _button("telegram", "tg", links.telegram, t("web-open-telegram")),
        _button("vk", "vk", links.vk, t("web-open-vk")),
        _button("app-store", "store", links.app_store, t("web-app-store")),
        _button("play-store", "store", links.play_store, t("web-play-store")),
    ]
    has_app = links.app_store is not None or links.play_store is not None
    body = "\n".join(
        [
            f"<h1>{t('web-heading', park)}</h1>",
            '<section class="card">',
            f'<p class="label">{t("web-code-label")}</p>',
            '<div class="code-row">',
            f'<output id="code">{escape(page.code)}</output>',
            f'<button id="copy" type="button" data-copied="{t("web-copied")}">'
            f"{t('web-copy')}</button>",
            "</div>",
            f"<p>{t('web-choose')}</p>",
            '<nav class="buttons">',
            *(b for b in buttons if b),
            "</nav>",
            f'<p class="hint">{t("web-app-hint")}</p>' if has_app else "",
            f'<figure id="qr">{qr_svg}<figcaption>{t("web-qr-caption")}</figcaption></figure>',
            "</section>",
        ]
    )
    return _document(t, t("web-title", park), body, nonce, script=True)


def miss_html(texts: Texts, miss: LandingMiss, nonce: str) -> str:
    t = texts
    title_key, text_key = (
        ("web-inactive-title", "web-inactive")
        if miss.inactive
        else ("web-missing-title", "web-missing")
    )
    parts = [f"<h1>{t(title_key)}</h1>", '<section class="card">', f"<p>{t(text_key)}</p>"]
    if not miss.parks:
        parts.append(f"<p>{t('web-no-parks')}</p>")
    for park in miss.parks:
        parts.extend(_park_bots(t, park))
    parts.append("</section>")
    return _document(t, t(title_key), "\n".join(parts), nonce, script=False)


def _park_bots(t: Texts, park: Park) -> list[str]:
    buttons = [
        _button(f"telegram-{park.slug}", "tg", park.telegram_link, t("web-open-telegram")),
        _button(f"vk-{park.slug}", "vk", park.vk_link, t("web-open-vk")),
    ]
    return [
        f'<p class="park">{t("web-heading", {"park": park.name})}</p>',
        '<nav class="buttons">',
        *(b for b in buttons if b),
        "</nav>",
    ]


def _button(element_id: str, style: str, url: str | None, label: str) -> str:
    if not url:
        return ""
    return (
        f'<a id="{escape(element_id)}" class="btn {style}" href="{escape(url)}" '
        f'rel="noopener">{label}</a>'
    )


def _document(t: Texts, title: str, body: str, nonce: str, *, script: bool) -> str:
    return _DOCUMENT.substitute(
        lang=escape(t.lang),
        title=title,
        nonce=escape(nonce),
        css=_CSS,
        body=body,
        script=f'<script nonce="{escape(nonce)}">{_JS}</script>' if script else "",
    )


def content_security_policy(nonce: str) -> str:
    # Nothing loads from anywhere: inline style and the copy script by nonce, the QR code is
    # inline SVG. Links to Telegram, VK and the stores are navigations, not loads.
    return (
        "default-src 'none'; "
        f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
