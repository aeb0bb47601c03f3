"""parse_mode → (visible text, entities), as the Bot API does before it counts the length.

Offsets and lengths are UTF-16 code units (MessageEntity). Malformed markup is refused with the
server's "can't parse entities" text, so a bot that builds bad HTML fails here as in production.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from scripts.telegram_emulator.errors import BotApiError

PARSE_ERROR_PREFIX = "Bad Request: can't parse entities: "

# Tag → entity type; `a`, `span`, `pre`, `code` and `tg-emoji` need attributes and are special.
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
    "code": "code",
    "pre": "pre",
}
_KNOWN_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji"}
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>")
_ATTRIBUTE = re.compile(r"""([a-zA-Z-]+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def parse_error(detail: str) -> BotApiError:
    return BotApiError(400, PARSE_ERROR_PREFIX + detail)


@dataclass
class _Open:
    tag: str
    offset: int  # UTF-16 offset in the visible text where the entity starts
    entity: dict[str, Any] = field(default_factory=dict)


def parse_html(source: str) -> tuple[str, list[dict[str, Any]]]:
    visible: list[str] = []
    position = 0  # UTF-16 units emitted so far
    stack: list[_Open] = []
    entities: list[dict[str, Any]] = []
    cursor = 0
    for match in _TAG.finditer(source):
        chunk = source[cursor : match.start()]
        if "<" in chunk:
            at = cursor + chunk.index("<")
            raise parse_error(
                f'Unsupported start tag "" at byte offset {len(source[:at].encode())}'
            )
        text = html.unescape(chunk)
        visible.append(text)
        position += utf16_len(text)
        cursor = match.end()
        closing, name, attributes = match.group(1) == "/", match.group(2).lower(), match.group(3)
        byte_offset = len(source[: match.start()].encode())
        if closing:
            if not stack:
                raise parse_error(f"Unexpected end tag at byte offset {byte_offset}")
            top = stack.pop()
            if top.tag != name:
                raise parse_error(
                    f'Unmatched end tag at byte offset {byte_offset}, expected "</{top.tag}>", '
                    f'found "</{name}>"'
                )
            length = position - top.offset
            if length > 0 and top.entity:
                entities.append({"offset": top.offset, "length": length, **top.entity})
            continue
        if name not in _KNOWN_TAGS:
            raise parse_error(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
        attrs = {
            m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
            for m in _ATTRIBUTE.finditer(attributes)
        }
        # A bare attribute (<blockquote expandable>) has no value; keep its name.
        for bare in re.findall(r"(?:^|\s)([a-zA-Z-]+)(?=\s|$)", attributes):
            attrs.setdefault(bare.lower(), "")
        stack.append(_Open(name, position, _entity_for(name, attrs, stack)))
    tail = source[cursor:]
    if "<" in tail:
        at = cursor + tail.index("<")
        raise parse_error(f'Unsupported start tag "" at byte offset {len(source[:at].encode())}')
    visible.append(html.unescape(tail))
    if stack:
        raise parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].tag}"')
    # Telegram lists entities by offset; an outer entity comes before the inner one it contains.
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(visible), entities


def _entity_for(name: str, attrs: dict[str, str], stack: list[_Open]) -> dict[str, Any]:
    if name == "a":
        url = attrs.get("href", "")
        return {"type": "text_link", "url": url} if url else {}
    if name == "span":
        return {"type": "spoiler"} if attrs.get("class") == "tg-spoiler" else {}
    if name == "tg-emoji":
        return {"type": "custom_emoji", "custom_emoji_id": attrs.get("emoji-id", "")}
    if name == "code" and stack and stack[-1].tag == "pre":
        # <pre><code class="language-x"> sets the pre block's language rather than nesting.
        language = attrs.get("class", "").removeprefix("language-")
        if language:
            stack[-1].entity["language"] = language
        return {}
    if name == "blockquote" and "expandable" in attrs:
        return {"type": "expandable_blockquote"}
    return {"type": _SIMPLE_TAGS[name]}


_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = {
    "*": "bold",
    "_": "italic",
    "__": "underline",
    "~": "strikethrough",
    "||": "spoiler",
}


def parse_markdown_v2(source: str) -> tuple[str, list[dict[str, Any]]]:
    visible: list[str] = []
    position = 0
    stack: list[tuple[str, int]] = []
    entities: list[dict[str, Any]] = []
    index = 0

    def emit(text: str) -> None:
        nonlocal position
        visible.append(text)
        position += utf16_len(text)

    while index < len(source):
        char = source[index]
        if char == "\\" and index + 1 < len(source):
            emit(source[index + 1])
            index += 2
            continue
        if char == "`":
            fence = source.startswith("```", index)
            marker = "```" if fence else "`"
            end = source.find(marker, index + len(marker))
            if end < 0:
                raise parse_error(
                    f"Can't find end of Pre entity at byte offset {_byte_offset(source, index)}"
                )
            body = source[index + len(marker) : end]
            entity: dict[str, Any] = {"type": "pre" if fence else "code"}
            if fence and "\n" in body:
                language, _, rest = body.partition("\n")
                if language.strip():
                    entity["language"] = language.strip()
                body = rest
            body = re.sub(r"\\(.)", r"\1", body)
            start = position
            emit(body)
            entities.append({"offset": start, "length": position - start, **entity})
            index = end + len(marker)
            continue
        if char == "[":
            close = source.find("](", index)
            end = source.find(")", close + 2) if close >= 0 else -1
            if close < 0 or end < 0:
                raise parse_error(
                    f"Can't find end of a text link at byte offset {_byte_offset(source, index)}"
                )
            label_text, _ = parse_markdown_v2(source[index + 1 : close])
            start = position
            emit(label_text)
            url = source[close + 2 : end].replace("\\)", ")").replace("\\\\", "\\")
            entities.append(
                {"offset": start, "length": position - start, "type": "text_link", "url": url}
            )
            index = end + 1
            continue
        found = next((m for m in ("__", "||", "*", "_", "~") if source.startswith(m, index)), None)
        if found is not None:
            marker = found
            if stack and stack[-1][0] == marker:
                _, start = stack.pop()
                if position > start:
                    entities.append(
                        {"offset": start, "length": position - start, "type": _MD2_MARKERS[marker]}
                    )
            else:
                stack.append((marker, position))
            index += len(marker)
            continue
        if char in _MD2_RESERVED:
            raise parse_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        emit(char)
        index += 1
    if stack:
        marker, _ = stack[-1]
        raise parse_error(
            f"Can't find end of {_MD2_MARKERS[marker].capitalize()} entity at byte offset "
            f"{len(source.encode())}"
        )
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(visible), entities


def _byte_offset(source: str, index: int) -> int:
    """Telegram reports positions in UTF-8 bytes; computed only for the error message."""
    return len(source[:index].encode())


def parse_markdown_legacy(source: str) -> tuple[str, list[dict[str, Any]]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    pattern = re.compile(
        r"\*([^*]+)\*|_([^_]+)_|```(.+?)```|`([^`]+)`|\[([^\]]+)\]\(([^)]+)\)", re.DOTALL
    )
    visible: list[str] = []
    entities: list[dict[str, Any]] = []
    position = 0
    cursor = 0
    for match in pattern.finditer(source):
        plain = source[cursor : match.start()]
        visible.append(plain)
        position += utf16_len(plain)
        bold, italic, pre, code, label, url = match.groups()
        text = next(v for v in (bold, italic, pre, code, label) if v is not None)
        kind = (
            "bold"
            if bold is not None
            else "italic"
            if italic is not None
            else "pre"
            if pre is not None
            else "code"
            if code is not None
            else "text_link"
        )
        entity: dict[str, Any] = {"offset": position, "length": utf16_len(text), "type": kind}
        if kind == "text_link":
            entity["url"] = url
        entities.append(entity)
        visible.append(text)
        position += utf16_len(text)
        cursor = match.end()
    rest = source[cursor:]
    for marker in ("*", "_", "`"):
        if marker in rest:
            offset = len(source[: cursor + rest.index(marker)].encode())
            raise parse_error(f"Can't find end of the entity starting at byte offset {offset}")
    visible.append(rest)
    return "".join(visible), entities


def apply_parse_mode(
    text: str, parse_mode: str | None, explicit_entities: list[dict[str, Any]] | None
) -> tuple[str, list[dict[str, Any]]]:
    """The visible text and its entities; explicit entities win when no parse_mode is given."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return parse_html(text)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown_legacy(text)
    if mode:
        raise BotApiError(400, f"Bad Request: unsupported parse_mode {parse_mode!r}")
    return text, list(explicit_entities or [])
