"""Turn Markdown, HTML and CSV files into article drafts.

Only the standard library is used (html.parser, csv): imports run on untrusted uploads, so the parser
must not fetch anything (no external entities, no remote stylesheets) and must be cheap to bound.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

from relaydesk.errors import InvalidInput

MAX_IMPORT_BYTES = 2_000_000
MAX_ARTICLES = 2_000


@dataclass
class Draft:
    title: str
    body: str
    kind: str = "article"
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    source_key: str | None = None


_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def from_markdown(text: str, name: str = "document.md") -> list[Draft]:
    """One article per file; the title is the first `# ` heading (or the file name); simple front matter
    (`title:`, `url:`, `tags:`) is honoured."""
    meta: dict[str, str] = {}
    m = _FRONT.match(text)
    if m:
        for line in m.group(1).splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                meta[key.strip().lower()] = value.strip()
        text = text[m.end() :]
    title = meta.get("title", "")
    lines = text.splitlines()
    if not title:
        for i, line in enumerate(lines):
            if line.startswith("# "):
                title = line[2:].strip()
                del lines[i]
                break
    title = title or name.rsplit("/", 1)[-1].rsplit(".", 1)[0].replace("-", " ").replace("_", " ")
    body = "\n".join(lines).strip()
    if not body:
        raise InvalidInput(f"{name}: the document has no text")
    tags = [t.strip() for t in meta.get("tags", "").strip("[]").split(",") if t.strip()]
    return [Draft(title[:300], body, url=meta.get("url") or None, tags=tags, source_key=name)]


class _HtmlText(HTMLParser):
    """Collects title, headings (as Markdown headings, for the chunker) and paragraph text."""

    _BLOCK = {"p", "div", "li", "br", "tr", "section", "article", "ul", "ol", "table", "blockquote"}
    _SKIP = {"script", "style", "nav", "footer", "header", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.h1 = ""
        self.canonical: str | None = None
        self.parts: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in self._SKIP:
            self._skip += 1
        elif tag == "title":
            self._in_title = True
        elif tag == "link" and (a.get("rel") or "").lower() == "canonical":
            self.canonical = a.get("href")
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = int(tag[1])
            self.parts.append("\n\n" + "#" * self._heading + " ")
        elif tag in self._BLOCK:
            self.parts.append("\n\n" if tag != "li" else "\n- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        elif tag == "title":
            self._in_title = False
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = None
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._in_title:
            self.title += data
            return
        if self._heading == 1 and not self.h1:
            self.h1 = data.strip()
        self.parts.append(re.sub(r"\s+", " ", data))


def from_html(text: str, name: str = "page.html") -> list[Draft]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    body = re.sub(r"[ \t]+\n", "\n", "".join(parser.parts))
    body = re.sub(r"\n{3,}", "\n\n", body).strip()
    title = (parser.title.strip() or parser.h1 or name.rsplit(".", 1)[0])[:300]
    # The page's own H1 repeats the title: drop it from the body.
    if parser.h1:
        body = body.replace(f"# {parser.h1}", "", 1).strip()
    if not body:
        raise InvalidInput(f"{name}: the page has no text")
    return [Draft(title, body, url=parser.canonical, source_key=name)]


_CSV_COLUMNS = {
    "question": "title",
    "title": "title",
    "answer": "body",
    "body": "body",
    "url": "url",
    "link": "url",
    "tags": "tags",
    "kind": "kind",
}


def from_csv(text: str, name: str = "faq.csv") -> list[Draft]:
    """FAQ rows: columns `question`/`title` and `answer`/`body`, optional `url`, `tags` (comma or `;`
    separated) and `kind`; every row is checked and the whole file is refused on the first bad row."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InvalidInput(f"{name}: the CSV has no header row")
    columns = {f: _CSV_COLUMNS.get((f or "").strip().lower()) for f in reader.fieldnames}
    if "title" not in columns.values() or "body" not in columns.values():
        raise InvalidInput(
            f"{name}: the CSV needs a question (or title) and an answer (or body) column",
            details={"columns": reader.fieldnames},
        )
    drafts: list[Draft] = []
    for lineno, row in enumerate(reader, start=2):
        values = {columns[k]: (v or "").strip() for k, v in row.items() if columns.get(k)}
        if not values.get("title") or not values.get("body"):
            raise InvalidInput(f"{name}: row {lineno} needs both a question and an answer")
        kind = values.get("kind") or "faq"
        if kind not in ("faq", "article"):
            raise InvalidInput(f"{name}: row {lineno} has an unknown kind {kind!r}")
        tags = [t.strip() for t in re.split(r"[;,]", values.get("tags", "")) if t.strip()]
        drafts.append(
            Draft(
                values["title"][:300],
                values["body"],
                kind=kind,
                url=values.get("url") or None,
                tags=tags,
                source_key=f"{name}#{lineno}",
            )
        )
        if len(drafts) > MAX_ARTICLES:
            raise InvalidInput(f"{name}: more than {MAX_ARTICLES} rows in one import")
    if not drafts:
        raise InvalidInput(f"{name}: the CSV has no rows")
    return drafts


def parse_import(data: bytes, filename: str, content_type: str | None = None) -> list[Draft]:
    """Pick the parser from the file name (or content type) and decode as UTF-8."""
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidInput(f"an import file may hold at most {MAX_IMPORT_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{filename}: the file is not UTF-8 text") from None
    lower = filename.lower()
    ctype = (content_type or "").lower()
    if lower.endswith((".md", ".markdown")) or "markdown" in ctype:
        return from_markdown(text, filename)
    if lower.endswith((".html", ".htm")) or "html" in ctype:
        return from_html(text, filename)
    if lower.endswith(".csv") or "csv" in ctype:
        return from_csv(text, filename)
    raise InvalidInput(f"{filename}: import Markdown (.md), HTML (.html) or CSV (.csv)")
