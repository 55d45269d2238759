"""Write the rules table into docs/redshift-rules.md:
``python -m support.redshift_standin.docs``."""

from __future__ import annotations

import re
from pathlib import Path

from support.redshift_standin.rules import markdown_table

DOC = Path(__file__).resolve().parents[2] / "docs" / "redshift-rules.md"
BEGIN, END = "<!-- rules: begin -->", "<!-- rules: end -->"


def main() -> None:
    text = DOC.read_text()
    table = f"{BEGIN}\n{markdown_table()}\n{END}"
    DOC.write_text(
        re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: table, text, flags=re.DOTALL)
    )


if __name__ == "__main__":
    main()
