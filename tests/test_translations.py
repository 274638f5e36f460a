"""The zh-Hans and zh-Hant translations are complete, and no string shown to users escapes
them.

Three checks, each of which a new untranslated string trips:

1. Every template and JS module is scanned for text a person sees (text nodes and the
   attributes read aloud or shown: title, aria-label, placeholder, alt, value of
   buttons, data-confirm) that is not inside {% translate %} / {% blocktranslate %};
   JS string literals that read as prose outside gettext()/ngettext() calls. A string
   written bare fails here.
2. Every string marked in a template ({% translate "…" %}, {% blocktranslate %}) or a
   module (gettext("…")) must be in the .po files (extracted with our own parser, as
   makemessages would: no GNU gettext needed in CI). A string marked but never extracted
   fails here.
3. Every msgid in the .po files has a Chinese msgstr (not fuzzy) that keeps the msgid's
   placeholders, zh-Hant's has no Simplified-only character, and the committed .mo says
   the same (a .po edited without recompiling fails). Each check runs for every locale.
4. The admin names our apps, models, fields, choices and its own columns, filters,
   actions and sections in Chinese: a name written bare (not gettext_lazy) reads the
   same in zh-Hans as in English, and fails here.
5. Python modules: the text of a refusal or a notice (ActionError's message, a
   ValidationError, a form error, a messages.* or admin message_user notice, a wait
   message) written as a bare string or f-string, not through gettext, fails here; and
   every string marked in Python (gettext, _, ngettext, pgettext, the lazy ones) must be
   in django.po, as for templates.
"""

from __future__ import annotations

import ast
import datetime as dt
import gettext
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.db import models
from django.utils import formats, translation

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("accounts", "api", "catalog", "chatweb", "conversations", "streaming")
# Django's language code -> the catalogue's folder; every check below runs for each.
LOCALES = {
    "zh-hans": ROOT / "locale" / "zh_Hans" / "LC_MESSAGES",
    "zh-hant": ROOT / "locale" / "zh_Hant" / "LC_MESSAGES",
}
LOCALE = LOCALES["zh-hans"]
by_locale = pytest.mark.parametrize("language", list(LOCALES))
TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
JS_DIR = ROOT / "static" / "js"

# Words that are the same in every language: the product's name, symbols.
UNTRANSLATABLE = {
    *("Chatweb", "WebSocket"),
    *("≈", "\u2039", "\u203a", "·", "—", "/", "%", "…", "?", ":"),
}
SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-confirm", "aria-description"}

# Admin-side templates extend Django's admin, which is translated by Django; these
# add text of their own and are checked like the rest.


def templates() -> list[Path]:
    found: list[Path] = []
    for directory in TEMPLATE_DIRS:
        found.extend(sorted(directory.rglob("*.html")))
    return [p for p in found if ".venv" not in p.parts]


def js_modules() -> list[Path]:
    return sorted(p for p in JS_DIR.glob("*.js"))


# --- 1. Nothing shown is left bare -----------------------------------------------------------

TRANSLATED = re.compile(
    r"{%\s*blocktranslate\b.*?%}.*?{%\s*endblocktranslate\s*%}|{%\s*translate\b.*?%}",
    re.DOTALL,
)
COMMENT_BLOCK = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.DOTALL)
# Blocks that hold class names, not text.
CLASS_BLOCK = re.compile(r"{%\s*block\s+\w*class\w*\s*%}.*?{%\s*endblock\s*%}", re.DOTALL)
DJANGO = re.compile(r"{#.*?#}|{%.*?%}|{{.*?}}", re.DOTALL)


def _visible_text(source: str) -> list[str]:
    """Text a person would see, after removing translated parts and template syntax."""
    source = COMMENT_BLOCK.sub("", source)
    source = CLASS_BLOCK.sub("", source)
    source = TRANSLATED.sub("", source)
    source = DJANGO.sub("", source)

    found: list[str] = []

    class Collect(HTMLParser):
        skip = 0

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            # code: names, paths, commands; kbd: key names (Ctrl, Shift, K), as printed on keys
            if tag in {"script", "style", "code", "kbd"}:
                self.skip += 1
            for name, value in attrs:
                if name in SHOWN_ATTRIBUTES and value:
                    found.append(value)
                if name == "value" and value and dict(attrs).get("type") in {"submit", "button"}:
                    found.append(value)

        def handle_endtag(self, tag: str) -> None:
            if tag in {"script", "style", "code", "kbd"} and self.skip:
                self.skip -= 1

        def handle_data(self, data: str) -> None:
            if not self.skip:
                found.append(data)

    parser = Collect(convert_charrefs=True)
    parser.feed(source)
    return [text.strip() for text in found if re.search(r"[A-Za-z]", _without_names(text))]


def _without_names(text: str) -> str:
    for word in UNTRANSLATABLE:
        text = text.replace(word, " ")
    return text


@pytest.mark.parametrize("path", templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_template_shows_text_outside_translate(path: Path) -> None:
    bare = _visible_text(path.read_text())
    assert bare == [], f"wrap in {{% translate %}}: {bare}"


def test_the_template_scan_catches_a_bare_string() -> None:
    # The scan itself must fail on what it is meant to catch.
    assert _visible_text('<p>{% translate "Hi" %}</p><button title="Close">x</button>') == [
        "Close",
        "x",
    ]
    assert _visible_text("{% blocktranslate %}Hi {{ name }}{% endblocktranslate %}") == []
    assert _visible_text('<input type="submit" value="Add the chosen models">') == [
        "Add the chosen models"
    ]


JS_STRING = re.compile(r"""(?P<q>["'`])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)""")
JS_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)
JS_CALL = re.compile(r"\b(?:gettext|ngettext|pgettext|gettext_noop)\(\s*$")
# ngettext's plural: its second argument.
JS_PLURAL = re.compile(r"""\bngettext\(\s*(["'])(?:\\.|(?!\1).)*\1\s*,\s*$""")


def _bare_js_prose(source: str) -> list[str]:
    """String literals that read as sentences or labels, not inside a gettext() call."""
    source = JS_COMMENT.sub(lambda m: " " * len(m.group()), source)
    bare = []
    for match in JS_STRING.finditer(source):
        text = match.group("s")
        if JS_CALL.search(source[: match.start()]) or JS_PLURAL.search(source[: match.start()]):
            continue
        if match.group("q") == "`":
            text = re.sub(r"\$\{[^}]*\}", "", text)
        # Prose: starts with a capital letter followed by a lower-case letter, or has two
        # words (CSS selectors, event names, attribute names, URLs and ids do not).
        if text.startswith(("<", ".", "#", "[")) or _class_list(text):
            continue  # markup, selectors
        if re.match(r"^[A-Z][a-z]", text) or re.search(r"[A-Za-z]{2,} [a-z]{2,}", text):
            if text in JS_API_NAMES or re.fullmatch(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+", text):
                continue  # a key name or an identifier (ArrowDown), compared, never shown
            bare.append(text)
    return bare


def _class_list(text: str) -> bool:
    tokens = text.split()
    return all(re.fullmatch(r"[a-z0-9_-]+", t) for t in tokens) and any("-" in t for t in tokens)


# Identifiers that look like words (DOM names compared in code, never shown).
JS_API_NAMES = {"Enter", "Escape", "AbortError", "Tab", "Shift", "Meta", "Control", "Files"}


@pytest.mark.parametrize("path", js_modules(), ids=lambda p: p.name)
def test_no_js_module_shows_text_outside_gettext(path: Path) -> None:
    bare = _bare_js_prose(path.read_text())
    assert bare == [], f"wrap in gettext(): {bare}"


def test_the_js_scan_catches_a_bare_string() -> None:
    assert _bare_js_prose('showToast("Copied.");') == ["Copied."]
    assert _bare_js_prose('showToast(gettext("Copied."));') == []
    assert _bare_js_prose("el.textContent = `Closed early (code ${c}).`;") == [
        "Closed early (code )."
    ]
    assert _bare_js_prose('if (event.key === "Enter") x.querySelector(".msg a");') == []
    assert _bare_js_prose('ngettext("%(n)s file", "%(n)s files", n);') == []
    assert _bare_js_prose('ngettext("%(n)s file", n) + "Two files";') == ["Two files"]


# --- 2. Everything marked is in the catalogs -------------------------------------------------

TRANSLATE_TAG = re.compile(r"""{%\s*translate\s+(?P<q>["'])(?P<s>.*?)(?P=q)""")
BLOCK_TAG = re.compile(
    r"{%\s*blocktranslate(?P<args>[^%]*)%}(?P<s>.*?)"
    r"(?:{%\s*plural\s*%}(?P<p>.*?))?{%\s*endblocktranslate\s*%}",
    re.DOTALL,
)
BLOCK_VAR = re.compile(r"{{\s*(\w+)\s*}}")
JS_GETTEXT = re.compile(r"""\bgettext\(\s*(?P<q>["'])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)\s*,?\s*\)""")
JS_NGETTEXT = re.compile(r"""\bngettext\(\s*(?P<q>["'])(?P<s>(?:\\.|(?!(?P=q)).)*)(?P=q)\s*,""")


def _block_msgid(text: str, trimmed: bool) -> str:
    text = BLOCK_VAR.sub(r"%(\1)s", text)
    if trimmed:
        text = " ".join(line.strip() for line in text.strip().splitlines())
    return text


def marked_in_templates() -> set[str]:
    marked: set[str] = set()
    for path in templates():
        source = path.read_text()
        marked.update(m.group("s") for m in TRANSLATE_TAG.finditer(source))
        for m in BLOCK_TAG.finditer(source):
            marked.add(_block_msgid(m.group("s"), "trimmed" in m.group("args")))
    return marked


def marked_in_js() -> set[str]:
    marked: set[str] = set()
    for path in js_modules():
        source = path.read_text()
        for m in (*JS_GETTEXT.finditer(source), *JS_NGETTEXT.finditer(source)):
            marked.add(ast.literal_eval(m.group("q") + m.group("s") + m.group("q")))
    return marked


def parse_po(path: Path) -> dict[str, tuple[list[str], bool]]:
    """msgid -> (msgstrs, fuzzy). A small reader for the subset makemessages writes."""
    return {msgid: (strs, fuzzy) for (_ctxt, msgid), (strs, fuzzy) in _entries(path).items()}


def _entries(path: Path) -> dict[tuple[str, str], tuple[list[str], bool]]:
    """(msgctxt, msgid) -> (msgstrs, fuzzy); entries are separated by blank lines."""
    entries: dict[tuple[str, str], tuple[list[str], bool]] = {}
    for block in path.read_text().split("\n\n"):
        fields: dict[str, str] = {}
        field = ""
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif line.startswith(("msgctxt ", "msgid", "msgstr")):
                field, _, value = line.partition(" ")
                fields[field] = ast.literal_eval(value)
            elif line.startswith('"') and field:
                fields[field] += ast.literal_eval(line)
        if fields.get("msgid"):
            strs = [v for k, v in sorted(fields.items()) if k.startswith("msgstr")]
            entries[(fields.get("msgctxt", ""), fields["msgid"])] = (strs, fuzzy)
    return entries


@by_locale
def test_every_marked_template_string_is_in_django_po(language: str) -> None:
    catalog = parse_po(LOCALES[language] / "django.po")
    missing = sorted(marked_in_templates() - set(catalog))
    assert missing == [], f"run `make messages`, then translate: {missing}"


@by_locale
def test_every_marked_js_string_is_in_djangojs_po(language: str) -> None:
    catalog = parse_po(LOCALES[language] / "djangojs.po")
    missing = sorted(marked_in_js() - set(catalog))
    assert missing == [], f"run `make messages`, then translate: {missing}"


# --- 3. Everything in the catalogs is translated and compiled --------------------------------


@by_locale
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_msgid_has_a_chinese_translation(domain: str, language: str) -> None:
    catalog = parse_po(LOCALES[language] / f"{domain}.po")
    assert len(catalog) > 20
    untranslated = [msgid for msgid, (strs, fuzzy) in catalog.items() if fuzzy or not all(strs)]
    assert untranslated == []
    # Chinese, not a copy of the English (a few symbols-only entries excepted).
    not_chinese = [
        msgid
        for msgid, (strs, _fuzzy) in catalog.items()
        if not any(re.search(r"[\u4e00-\u9fff]", s) for s in strs)
    ]
    assert not_chinese == [msgid for msgid in not_chinese if msgid in SAME_IN_CHINESE]


# Entries whose Chinese has no Chinese character (formats).
SAME_IN_CHINESE = {"%(date)s, %(time)s", "%(groups)s, %(users)s", "%(amount)s %(currency)s"}

# What a translation must carry over from its msgid: Python and JS placeholders, markup.
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|<[^>]+>|&\w+;")


def lost_placeholders(msgid: str, translated: str) -> list[str]:
    return sorted(set(PLACEHOLDER.findall(msgid)) ^ set(PLACEHOLDER.findall(translated)))


@by_locale
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_every_translation_keeps_the_placeholders(domain: str, language: str) -> None:
    broken = [
        f"{msgid!r}: {lost}"
        for (_ctxt, msgid), (strs, _fuzzy) in _entries(LOCALES[language] / f"{domain}.po").items()
        for translated in strs
        if (lost := lost_placeholders(msgid, translated))
    ]
    assert broken == []


def test_the_placeholder_check_catches_a_lost_one() -> None:
    assert lost_placeholders("Rename “%(title)s”", "重新命名「%(titel)s」") == [
        "%(titel)s",
        "%(title)s",
    ]
    assert lost_placeholders('<a href="%(u)s">Sign in</a>', '<a href="%(u)s">登入</a>') == []


# Characters written only in Simplified Chinese (their Traditional forms differ): a zh-Hant
# string holding one was converted carelessly or copied from zh-Hans. Not every such
# character, only the ones an interface uses; the browser suite checks the pages too.
SIMPLIFIED_ONLY = set(
    "设说话们这个对时间开关发无为应该数据库删复导权从务总确认户账号录载进还错误网页显"
    "选择请让实级过记读写处统计译现换码称题续图样钥态类项单体测试启动压缩缓层编辑详细资讯"
    "仅会传余侧储儿兴内册决况净减几击则创别剂办动劳势区医华协单卖历压县参双变叙叠吗员响"
    "团园围国图圆场坏块坚够头夺奖学宁宝实审宽对寻导将尔层属岁币师帐带帮库应废开异张弹强"
    "归当录径忆态总恶惊惯愿户执扩扫扰护报担拟择挂挡损换据摄数断无旧时显晓暂术机杀杂权条"
    "来极构标栏树样档检楼欢毁气汇汉没测济浏温满滤灭灯灵点烦热爱状独环现电画疗盖盘确礼离"
    "种积称稳笔签简类紧红约级纪纯纳纵纸线练组细织终经绑结绘给络绝统继绩维综缓编缘缩网罗"
    "职联脑节获营虑补装览觉观规视触订认讨让训议讯记讲许论设访证评识词试话询该详语误说请"
    "读谁调谢负财责败账货质购费贴资赖赶转轮软轻载较辑输边达过运还这进远违连选递遗邮释针"
    "钟钮铁银错键长门闭问闲间闻阅阶际陆险随隐难页项顺须顾预领频题颜额风飞饭马验鱼齐"
)


def simplified_characters(text: str) -> list[str]:
    return sorted({character for character in text if character in SIMPLIFIED_ONLY})


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_zh_hant_has_no_simplified_only_character(domain: str) -> None:
    found = {
        msgid: simplified_characters(strs[0])
        for msgid, (strs, _fuzzy) in parse_po(LOCALES["zh-hant"] / f"{domain}.po").items()
        if simplified_characters(strs[0])
    }
    assert found == {}


def test_the_simplified_check_catches_one() -> None:
    assert simplified_characters("设定对话") == ["对", "设", "话"]
    assert simplified_characters("設定對話、訊息、檔案、登入、帳號、伺服器、預設") == []


@by_locale
@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_the_committed_mo_matches_the_po(domain: str, language: str) -> None:
    with (LOCALES[language] / f"{domain}.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    for (context, msgid), (strs, _fuzzy) in _entries(LOCALES[language] / f"{domain}.po").items():
        found = {
            compiled.pgettext(context, msgid) if context else compiled.gettext(msgid),
            compiled.npgettext(context, msgid, msgid, 1)
            if context
            else compiled.ngettext(msgid, msgid, 1),
        }
        assert found & set(strs), f"{domain}.mo is stale for {msgid!r}: run `make messages`"


# --- 4. The admin speaks Chinese for our own apps --------------------------------------------

OUR_APPS = ("conversations", "catalog", "accounts")
# Names that are the same in Chinese: Django's automatic primary key label, and each
# language named in its own words (the language setting's choices).
SAME_NAME_IN_CHINESE = {"ID", "English", "简体中文", "繁體中文"}


def _model_names() -> list[tuple[str, object]]:
    """(where, name) for each app, model, field, help text and choice label of our apps."""
    names: list[tuple[str, object]] = []
    for label in OUR_APPS:
        config = apps.get_app_config(label)
        names.append((f"{label} app", config.verbose_name))
        for model in config.get_models():
            opts = model._meta
            names.append((opts.label, opts.verbose_name))
            names.append((f"{opts.label} (plural)", opts.verbose_name_plural))
            for field in opts.get_fields():
                if not isinstance(field, models.Field):
                    continue  # Reverse relations are named by the other side.
                where = f"{opts.label}.{field.name}"
                names.append((where, field.verbose_name))
                if field.help_text:
                    names.append((f"{where} help_text", field.help_text))
                for value, choice in field.flatchoices if field.choices else []:
                    if value != "":  # A blank choice's label is Django's own "---------".
                        names.append((f"{where} choice {value!r}", choice))
    return names


def _admin_names() -> list[tuple[str, object]]:
    """(where, name) for what our ModelAdmins add: sections, columns, filters, actions, form
    fields declared in the admin, inlines' columns."""
    names: list[tuple[str, object]] = []
    for model, model_admin in admin.site._registry.items():
        if model._meta.app_label not in OUR_APPS:
            continue
        where = type(model_admin).__name__
        for title, options in model_admin.fieldsets or ():
            if title:
                names.append((f"{where} section", title))
            if options.get("description"):
                names.append((f"{where} section description", options["description"]))
        owners = [model_admin, *(inline(model, admin.site) for inline in model_admin.inlines)]
        for owner in owners:
            columns = [*getattr(owner, "list_display", ()), *(owner.fields or ())]
            fields = {field.name for field in owner.model._meta.get_fields()}
            for column in columns:
                if isinstance(column, str) and column in fields:
                    continue  # Named by the model (a field's name wins, as in the admin).
                attribute = getattr(owner, column, None) if isinstance(column, str) else column
                if callable(attribute):
                    names.append((f"{where}.{column}", attribute.short_description))
        for action in model_admin.actions or ():
            function: Any = getattr(model_admin, action) if isinstance(action, str) else action
            names.append((f"{where} action {action}", function.short_description))
        for list_filter in model_admin.list_filter:
            if isinstance(list_filter, type) and issubclass(list_filter, admin.SimpleListFilter):
                names.append((f"{where} filter", list_filter.title))
        for name, field in getattr(model_admin.form, "declared_fields", {}).items():
            names.append((f"{where} form {name}", field.label))
            if field.help_text:
                names.append((f"{where} form {name} help_text", field.help_text))
    return names


def _same_in_both(names: list[tuple[str, object]], language: str = "zh-hans") -> list[str]:
    same = []
    for where, name in names:
        with translation.override("en"):
            english = str(name)
        with translation.override(language):
            chinese = str(name)
        if english == chinese and english not in SAME_NAME_IN_CHINESE:
            same.append(f"{where}: {english!r}")
    return same


@by_locale
def test_our_apps_models_and_fields_have_chinese_names(language: str) -> None:
    names = _model_names()
    assert len(names) > 100
    assert _same_in_both(names, language) == [], "mark with gettext_lazy, `make messages`"


@by_locale
def test_our_admin_sections_columns_filters_and_actions_have_chinese_names(language: str) -> None:
    names = _admin_names()
    assert len(names) > 10
    assert _same_in_both(names, language) == [], "mark with gettext_lazy, `make messages`"


def test_the_name_check_catches_a_bare_name() -> None:
    assert _same_in_both([("a", "published"), ("b", "ID")]) == ["a: 'published'"]
    assert _same_in_both([("a", "published")], "zh-hant") == ["a: 'published'"]
    assert _same_in_both([("c", translation.gettext_lazy("published"))]) == []


# --- 5. Python: what is shown goes through gettext ---------------------------------------------


def python_modules() -> list[Path]:
    return sorted(
        path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


GETTEXT_FUNCTIONS = {
    # name -> the positions of its msgids (pgettext's first argument is the context)
    **dict.fromkeys(("_", "gettext", "gettext_lazy", "gettext_noop"), (0,)),
    **dict.fromkeys(("ngettext", "ngettext_lazy"), (0,)),  # the plural is msgid_plural
    **dict.fromkeys(("pgettext", "pgettext_lazy"), (1,)),
}
# Calls whose argument at this position (or keyword) is text a person reads: the sinks.
SHOWN_ARGUMENT = {
    "ActionError": (1, "message"),  # ActionError(code, message): frames, pages, the API
    "ValidationError": (0, "message"),  # forms, the admin, model validation
    "add_error": (1, "error"),  # form.add_error(field, error)
    "message_user": (1, "message"),  # the admin's notices
    "wait_message": (1, "what"),  # accounts.protection: "…. Try again in 3 minutes."
    **dict.fromkeys(("debug", "info", "success", "warning", "error"), (1, "message")),
    "add_message": (2, "message"),  # messages.add_message(request, level, message)
}
# messages.* and add_message only on django.contrib.messages (not logging's warning/error).
MESSAGES_ONLY = {"debug", "info", "success", "warning", "error", "add_message"}


def _call_name(call: ast.Call) -> str:
    func = call.func
    return (
        func.id
        if isinstance(func, ast.Name)
        else func.attr
        if isinstance(func, ast.Attribute)
        else ""
    )


def _is_bare_text(node: ast.expr) -> bool:
    """A string written out (a literal, an f-string, "…" % x, "…".format(x)), not one
    that went through gettext first."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(re.search(r"[A-Za-z]{2}", node.value))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):  # "…" % args, "…" + x
        return _is_bare_text(node.left) or _is_bare_text(node.right)
    if isinstance(node, ast.IfExp):
        return _is_bare_text(node.body) or _is_bare_text(node.orelse)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr == "format" and _is_bare_text(node.func.value)
    return False


def _bare_python_text(source: str) -> list[str]:
    """Shown text written bare in this module: `line: call(…text…)`."""
    bare = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _call_name(node)
        if name not in SHOWN_ARGUMENT:
            continue
        func = node.func
        if name in MESSAGES_ONLY and not (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and func.value.id == "messages"
        ):
            continue
        position, keyword = SHOWN_ARGUMENT[name]
        shown = [node.args[position]] if len(node.args) > position else []
        shown += [k.value for k in node.keywords if k.arg == keyword]
        # ValidationError({"field": "…"}): each field's message.
        shown = [v for a in shown for v in (a.values if isinstance(a, ast.Dict) else [a]) if v]
        bare += [f"{node.lineno}: {name}({ast.unparse(a)})" for a in shown if _is_bare_text(a)]
    return bare


@pytest.mark.parametrize("path", python_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_python_module_shows_text_outside_gettext(path: Path) -> None:
    bare = _bare_python_text(path.read_text())
    assert bare == [], f"wrap in _() (gettext), `make messages`, translate: {bare}"


def test_the_python_scan_catches_a_bare_string() -> None:
    source = """
raise ActionError("empty", "Type a message first.")
raise ActionError("empty", _("Type a message first."))
raise ActionError("n", f"Entry {n} lacks a key.")
raise ActionError("n", _("Entry %(n)s lacks a key.") % {"n": n})
raise ActionError(exc.code, exc.message)
raise ValidationError("A quota is for a user or for a group, not both.")
raise ValidationError(message=_("Fine."))
raise ValidationError({"context_window": "At least 256 tokens.", "name": _("Fine.")})
form.add_error(None, "Too many attempts." if late else _("Wait."))
messages.error(request, "Could not save.")
messages.add_message(request, messages.INFO, "Saved {}.".format(name))
log.error("Not shown %s", name)
self.message_user(request, _("Done."))
"""
    assert _bare_python_text(source) == [
        "2: ActionError('Type a message first.')",
        "4: ActionError(f'Entry {n} lacks a key.')",
        "7: ValidationError('A quota is for a user or for a group, not both.')",
        "9: ValidationError('At least 256 tokens.')",
        "10: add_error('Too many attempts.' if late else _('Wait.'))",
        "11: error('Could not save.')",
        "12: add_message('Saved {}.'.format(name))",
    ]


def marked_in_python() -> set[str]:
    marked: set[str] = set()
    for path in python_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and _call_name(node) in GETTEXT_FUNCTIONS:
                for position in GETTEXT_FUNCTIONS[_call_name(node)]:
                    if position < len(node.args):
                        argument = node.args[position]
                        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                            marked.add(argument.value)
    return marked


@by_locale
def test_every_marked_python_string_is_in_django_po(language: str) -> None:
    marked = marked_in_python()
    assert len(marked) > 100
    missing = sorted(marked - set(parse_po(LOCALES[language] / "django.po")))
    assert missing == [], f"run `make messages`, then translate: {missing}"


def django_catalogues(language: str = "zh-hans") -> list[Path]:
    """Django's own catalogues in this language of the apps this project uses, and its core
    one."""
    import django

    root = Path(django.__file__).parent
    folder = LOCALES[language].parent.name
    apps = ("admin", "auth", "contenttypes", "sessions")
    paths = [root / "contrib" / app / f"locale/{folder}/LC_MESSAGES/django.po" for app in apps]
    return [*paths, root / f"conf/locale/{folder}/LC_MESSAGES/django.po"]


def overrides(ours: Path, theirs: list[Path]) -> list[str]:
    """Entries of our catalogue (same context and msgid) that Django's translate otherwise:
    ours wins at run time, so Django's own pages would read our meaning."""
    found = []
    for path in theirs:
        django_entries = _entries(path)
        for key, (strs, _fuzzy) in _entries(ours).items():
            if key in django_entries and django_entries[key][0][:1] != strs[:1]:
                found.append(
                    f"{key[1]!r}: ours {strs[0]!r}, Django's {django_entries[key][0][0]!r}"
                )
    return found


# Worded differently from Django's, with the same meaning (read and kept on purpose).
SAME_MEANING = {
    "zh-hans": {
        "'Page not found': ours '页面不存在', Django's '页面没有找到'",
        "'groups': ours '用户组', Django's '组'",  # "user groups": clearer beside "users"
        "'group': ours '用户组', Django's '组'",
        "'Text': ours '内容', Django's '文本'",  # a prompt's text: its content
    },
    "zh-hant": {
        "'Text': ours '內容', Django's '文字'",  # a prompt's text: its content
    },
}


@by_locale
def test_our_catalogue_never_overrides_a_django_string_with_another_meaning(language: str) -> None:
    """The admin's every "Change" link read 切换 ("switch") because the language switcher's
    "Change" was translated so: our own senses take a context (pgettext) instead."""
    catalogues = django_catalogues(language)
    assert all(path.exists() for path in catalogues), catalogues
    found = set(overrides(LOCALES[language] / "django.po", catalogues))
    assert found <= SAME_MEANING[language]


def test_the_override_check_catches_one(tmp_path: Path) -> None:
    ours = tmp_path / "django.po"
    ours.write_text('msgid "Change"\nmsgstr "切换"\n')
    assert set(overrides(ours, django_catalogues())) == {"'Change': ours '切换', Django's '修改'"}
    ours.write_text('msgid "Change"\nmsgstr "切換"\n')
    assert "'Change': ours '切換', Django's '修改'" in overrides(ours, django_catalogues("zh-hant"))


@by_locale
def test_chinese_dates_write_the_month_without_a_leading_zero(language: str) -> None:
    """Django's Chinese MONTH_DAY_FORMAT ("m月j日") writes March 5 as "03月5日";
    chatweb/formats makes it "3月5日" (quota resets, the usage page)."""
    with translation.override(language):
        assert formats.date_format(dt.date(2026, 3, 5), "MONTH_DAY_FORMAT") == "3月5日"
        assert formats.date_format(dt.date(2026, 3, 5), "DATE_FORMAT") == "2026年3月5日"
