"""Markdown tables whose cells hold any text."""

import re


def cell(text):
  """`text` as one cell of a Markdown table row: '|' escaped (it would end
  the cell) and line breaks as spaces (they would end the row)."""
  return re.sub(r"\s*[\r\n]+\s*", " ", str(text)).replace("|", r"\|")
