"""The Complete tab's cursor: where in the code box the model fills in, and how a fill is shown.

The cursor is a marker in the code, `<CURSOR>` (or `█`): typed by the user, or put at the text
box's caret by the page when Fill is pressed without one. The code before it is the prefix, the
code after it the suffix; the model writes the middle. Code without a marker is continued at its
end (a plain continuation, which any model can do; filling a middle needs FIM tokens).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Sequence

from mixtune.errors import MixtuneError

CURSOR = "<CURSOR>"
MARKERS = (CURSOR, "█")
# the Fill button's script: put the marker at the text box's caret unless the code has one already
CARET_JS = """
(code, ...rest) => {
  const box = document.querySelector('#complete-code textarea');
  const text = code || '';
  if (!box || __MARKERS__.some(m => text.includes(m))) return [text, ...rest];
  const at = Math.min(box.selectionStart ?? text.length, text.length);
  return [text.slice(0, at) + __CURSOR__ + text.slice(at), ...rest];
}
""".replace("__MARKERS__", json.dumps(MARKERS)).replace("__CURSOR__", json.dumps(CURSOR))
_ESCAPES = {"\\n": "\n", "\\t": "\t", "\\\\": "\\"}


def split_at_cursor(code: str) -> tuple[str, str]:
    """(prefix, suffix) around the one cursor marker; (code, "") when there is none."""
    found = [(code.find(m), m) for m in MARKERS if m in code]
    count = sum(code.count(m) for m in MARKERS)
    if count > 1:
        raise MixtuneError(
            f"the code has {count} cursor markers ({' or '.join(MARKERS)}); keep the one where the model "
            "should write"
        )
    if not found:
        return code, ""
    at, marker = found[0]
    return code[:at], code[at + len(marker) :]


def parse_stops(text: str | None) -> list[str]:
    """Stop strings, one per line of the box; `\\n`, `\\t` and `\\\\` stand for a newline, a tab and
    a backslash (so a stop can be a blank line: `\\n\\n`)."""
    stops = []
    for line in (text or "").splitlines():
        if line:
            stops.append(re.sub(r"\\\\|\\n|\\t", lambda m: _ESCAPES[m.group(0)], line))
    return stops


def filled_html(prefix: str, middle: str, suffix: str, pending: bool = False) -> str:
    """The code with the middle in place, highlighted (escaped: nothing the model writes is HTML)."""
    shown = html.escape(middle) if middle or not pending else "…"
    return (
        f'<pre class="filled-code"><span class="fill-context">{html.escape(prefix)}</span>'
        f'<mark class="fill-middle">{shown}</mark>'
        f'<span class="fill-context">{html.escape(suffix)}</span></pre>'
    )


def accepted(parts: Sequence[str] | None) -> str:
    """The code box after accepting a fill: the middle in place, the cursor after it."""
    if not parts or len(parts) != 3:
        raise MixtuneError("there is no filled code to accept yet: press Fill first")
    prefix, middle, suffix = parts
    return f"{prefix}{middle}{CURSOR}{suffix}"
