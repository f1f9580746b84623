"""Deprecated SPDX license ids (`GPL-3.0`, `LGPL-2.1+`) and the ids SPDX replaced them with.

conda-build and the Deadline Cloud samples' older tools took any license text; rattler-build refuses a deprecated
SPDX id when it reads the recipe, so a recipe that built for years (the samples' Blender has `GPL-3.0`) would
stop building. Such ids are replaced by their successors, with a warning; anything else is left for
rattler-build to judge.
"""

from __future__ import annotations

import re

#: SPDX's deprecated ids and their replacements (https://spdx.org/licenses, "Deprecated License Identifiers").
#: The licence families whose bare ids SPDX deprecated: `GPL-2.0` is `GPL-2.0-only`, `GPL-2.0+` `-or-later`
#: (the GFDL's `+` forms were never ids).
_VERSIONED = (
    *(("GPL", v) for v in ("1.0", "2.0", "3.0")),
    *(("LGPL", v) for v in ("2.0", "2.1", "3.0")),
    *(("AGPL", v) for v in ("1.0", "3.0")),
    *(("GFDL", v) for v in ("1.1", "1.2", "1.3")),
)
DEPRECATED = {
    **{f"{family}-{version}": f"{family}-{version}-only" for family, version in _VERSIONED},
    **{f"{f}-{v}+": f"{f}-{v}-or-later" for f, v in _VERSIONED if f in ("GPL", "LGPL")},
    "GPL-2.0-with-autoconf-exception": "GPL-2.0-only WITH Autoconf-exception-2.0",
    "GPL-2.0-with-bison-exception": "GPL-2.0-or-later WITH Bison-exception-2.2",
    "GPL-2.0-with-classpath-exception": "GPL-2.0-only WITH Classpath-exception-2.0",
    "GPL-2.0-with-font-exception": "GPL-2.0-only WITH Font-exception-2.0",
    "GPL-2.0-with-GCC-exception": "GPL-2.0-only WITH GCC-exception-2.0",
    "GPL-3.0-with-autoconf-exception": "GPL-3.0-only WITH Autoconf-exception-3.0",
    "GPL-3.0-with-GCC-exception": "GPL-3.0-only WITH GCC-exception-3.1",
    "eCos-2.0": "GPL-2.0-or-later WITH eCos-exception-2.0",
    "wxWindows": "GPL-2.0-or-later WITH WxWindows-exception-3.1",
    "StandardML-NJ": "SMLNJ",
    "Nunit": "zlib-acknowledgement",
    "BSD-2-Clause-FreeBSD": "BSD-2-Clause",
    "BSD-2-Clause-NetBSD": "BSD-2-Clause",
    "bzip2-1.0.5": "bzip2-1.0.6",
}
_TERM = re.compile(r"[^\s()]+")


def current_license(expression: str) -> str:
    """`expression` with every deprecated SPDX id replaced by its successor (`GPL-3.0` -> `GPL-3.0-only`).

    A replacement that carries an exception (`... WITH ...`) is parenthesised inside a larger expression.
    """

    def replace(match: re.Match[str]) -> str:
        new = DEPRECATED.get(match.group(0), match.group(0))
        whole = match.group(0) == expression.strip()
        return f"({new})" if " WITH " in new and not whole else new

    return _TERM.sub(replace, expression)
