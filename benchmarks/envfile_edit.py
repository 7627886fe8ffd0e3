"""How long the core's .env document model takes on a large document (issue 9: "a 10 MB .env
takes 20 s to edit").

    python benchmarks/envfile_edit.py [MEGABYTES]        # default 10

Prints seconds for: parse, values(), set an existing key, append a new key, ten sets in a row
(what the TUI's form save does), and the document's text. Not a test: timings depend on the
machine. The CLI refuses files over 1 MiB (rfsetup.core.files.MAX_BYTES); the model itself
must stay linear.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from rfsetup.core.envfile import EnvFile


def _document(megabytes: float) -> str:
    lines: list[str] = []
    size, i = 0, 0
    while size < megabytes * 1_000_000:
        line = (f"# comment {i}\n" if i % 5 == 0 else "") + f"KEY_{i}=value_{i}_{'x' * 20}\n"
        lines.append(line)
        size += len(line)
        i += 1
    lines.insert(len(lines) // 2, 'CERT="-----BEGIN-----\nmulti\nline\n-----END-----"\n')
    return "".join(lines)


def _timed(label: str, fn: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = fn()
    print(f"{label:<28} {time.perf_counter() - start:8.3f} s")
    return result


def main() -> None:
    megabytes = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    text = _document(megabytes)
    import rfsetup.core.envfile as module

    print(f"code: {module.__file__}")
    print(f"document: {len(text) / 1e6:.1f} MB, {text.count(chr(10))} lines")
    doc = _timed("parse", lambda: EnvFile.parse(text))
    assert isinstance(doc, EnvFile)
    _timed("values()", doc.values)
    _timed("set an existing key", lambda: doc.set("KEY_10", "new value"))
    _timed("append a new key", lambda: doc.set("BRAND_NEW", "v"))

    def ten_sets() -> EnvFile:
        current = doc
        for n in range(10):
            current = current.set(f"KEY_{n * 1000}", f"edited {n}")
        return current

    edited = _timed("ten sets in a row", ten_sets)
    assert isinstance(edited, EnvFile)
    _timed("text of the result", lambda: edited.text)


if __name__ == "__main__":
    main()
