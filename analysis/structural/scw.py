"""ScenarioWizard files: CIB models (`.scw`) in and out, solution lists (`.sl`) in.

A `.scw` file (ScenarioWizard 4) is plain text: the line `$ ScenarioWizard 4.0`, the project's
name, then each descriptor as `&NAME` followed by its variants as ` -NAME` lines, a `#` line, then
sections for descriptions and colours, and the cross-impact matrix as one line per variant of
comma-separated integers (rows act on columns), each section closed by `#`. Reading takes the
descriptors and the first block of rows that has one number per variant; the other sections are
not needed for the analysis and are written back empty.

A `.sl` solution list has one quoted line per scenario, its variants 1-based
(`" 2 3 2",4,0,0,15,""`), after a count line.
"""

from __future__ import annotations

import re

import numpy as np

from analysis.errors import InputError
from analysis.structural.cib import CibModel, cib_model

#: the header ScenarioWizard writes first
HEADER = "$ ScenarioWizard 4.0"
_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")


def _numbers(line: str) -> list[float] | None:
    """The comma-separated numbers of a matrix line, or None if it is not one."""
    if "," not in line:
        return None
    parts = [p.strip() for p in line.split(",")]
    if parts and parts[-1] == "":
        parts = parts[:-1]  # ScenarioWizard ends some rows with a comma
    if not parts or not all(_NUMBER.match(p) for p in parts):
        return None
    return [float(p) for p in parts]


def read_scw(text: str) -> CibModel:
    """A CIB model from the text of a ScenarioWizard `.scw` file."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines or not lines[0].lstrip("\ufeff").startswith("$ ScenarioWizard"):
        raise InputError("line 1: not a ScenarioWizard file (expected '$ ScenarioWizard ...')")
    name = lines[1].strip() if len(lines) > 1 else ""
    descriptors: list[str] = []
    variants: list[list[str]] = []
    at = 2
    while at < len(lines):
        stripped = lines[at].strip()
        at += 1
        if stripped == "#":
            break
        if not stripped:
            continue
        if stripped.startswith("&"):
            descriptors.append(stripped[1:].strip())
            variants.append([])
        elif stripped.startswith("-") and descriptors:
            variants[-1].append(stripped[1:].strip())
        else:
            raise InputError(f"line {at}: expected '&DESCRIPTOR' or ' -VARIANT', got {stripped!r}")
    else:
        raise InputError("the descriptor list is not closed by a '#' line")
    size = sum(len(v) for v in variants)
    if not descriptors or size == 0:
        raise InputError("the file names no descriptors and variants")
    rows: list[list[float]] = []
    first_row = 0
    for number, line in enumerate(lines[at:], start=at + 1):
        values = _numbers(line)
        if values is not None and len(values) == size:
            if not rows:
                first_row = number
            rows.append(values)
            if len(rows) == size:
                break
        elif rows:
            raise InputError(
                f"line {number}: the cross-impact matrix starting on line {first_row} has "
                f"{len(rows)} rows; expected {size} (one per variant) of {size} numbers"
            )
    if len(rows) < size:
        raise InputError(f"no cross-impact matrix of {size} rows x {size} numbers in the file")
    return cib_model(descriptors, variants, np.asarray(rows), name=name)


def write_scw(model: CibModel) -> str:
    """The model as the text of a ScenarioWizard `.scw` file (integer judgements only)."""
    if not model.is_integer:
        raise InputError("ScenarioWizard files hold integer judgements; round the matrix first")
    for label in (*model.descriptors, *(v for block in model.variants for v in block)):
        if "\n" in label or label.startswith(("&", "-", "#")):
            raise InputError(f"{label!r} cannot be written to a .scw file")
    out = [HEADER, model.name or "model.scw"]
    for descriptor, block in zip(model.descriptors, model.variants, strict=True):
        out.append(f"&{descriptor}")
        out.extend(f" -{v}" for v in block)
    out.append("#")
    for block in model.variants:
        out.append("&")
        out.extend(" " for _ in block)
    out += ["#", "#"]
    out.extend("FFFFFF" for _ in range(model.matrix.shape[0]))
    out += ["#", "#"]
    out.extend(",".join(f"{int(v):2d} " for v in row) for row in model.matrix)
    out += ["#", "# 0-0", '""', ""]
    return "\n".join(out)


def read_solution_list(text: str, model: CibModel | None = None) -> list[tuple[int, ...]]:
    """The scenarios of a ScenarioWizard `.sl` solution list, as 0-based variant indices."""
    found: list[tuple[int, ...]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        match = re.match(r'^\s*"([\d\s]+)"', line)
        if not match:
            continue
        scenario = tuple(int(v) - 1 for v in match.group(1).split())
        if model is not None and (
            len(scenario) != len(model.descriptors)
            or any(not 0 <= v < n for v, n in zip(scenario, model.counts, strict=False))
        ):
            raise InputError(f"line {number}: the scenario does not fit the model")
        found.append(scenario)
    return found
