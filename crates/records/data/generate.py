#!/usr/bin/env python3
"""Generates the ICD-10-CM code set the records crate embeds (crates/records/data/icd10cm-*.tsv.gz).

Not run by the build: run it by hand when a new ICD-10-CM release is wanted, then commit its output and update
SOURCE.md and the file name in src/icd10.rs.

    python3 -m venv /tmp/icd && /tmp/icd/bin/pip install simple-icd-10-cm==1.5.0
    /tmp/icd/bin/python crates/records/data/generate.py            # writes icd10cm-2026-04.tsv.gz here

Input: the `simple-icd-10-cm` PyPI package (MIT), which ships NCHS/CDC's ICD-10-CM files unchanged: the
tabular list (XML) and the list of every valid code (`code-list-*.txt`). Only the package's data files are
read, with the standard library; its Python code is not used.

Output: one line per *billable* code (a valid code with no valid code below it), sorted by code:
`CODE<TAB>DESCRIPTION`, the code with its dot (`E11.9`), the description the tabular list gives it. Codes that
the tabular list does not spell out (7th characters, `sevenChrDef`) get the description of the code they extend
and the 7th character's text, joined by ", " -- the way the CMS order file writes them. The first line is a
`#` comment naming the source. The file is gzip-compressed (level 9, no name, mtime 0: reproducible).
"""

import argparse
import gzip
import importlib.util
import io
import os
import re
import sys
import xml.etree.ElementTree as ET

PACKAGE = "simple_icd_10_cm"


def data_dir():
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        sys.exit(f"install the PyPI package simple-icd-10-cm first ({PACKAGE} not found)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def clean(text):
    return re.sub(r"\s+", " ", text or "").strip()


def seven_chr_def(elem):
    """The 7th characters a <sevenChrDef> defines: only its <extension> elements (a <note> after one is an
    alternative wording, not part of the title)."""
    return {ext.get("char"): clean(ext.text) for ext in elem.findall("extension")}


def read_tabular(path):
    """code (dotted) -> (description, the 7th-character definitions in force there)."""
    root = ET.parse(path).getroot()
    codes = {}

    def walk(elem, inherited):
        for child in elem:
            if child.tag in ("chapter", "section"):
                own = child.find("sevenChrDef")
                walk(child, seven_chr_def(own) if own is not None else inherited)
            elif child.tag == "diag":
                own = child.find("sevenChrDef")
                defs = seven_chr_def(own) if own is not None else inherited
                codes[clean(child.findtext("name"))] = (clean(child.findtext("desc")), defs)
                walk(child, defs)

    walk(root, {})
    return codes


def dotted(code):
    return code if len(code) <= 3 else code[:3] + "." + code[3:]


def billable(all_codes):
    """The valid codes that no other valid code extends (leaves), undotted."""
    codes = sorted(c for c in all_codes if re.fullmatch(r"[A-Z][0-9A-Z]{2,6}", c))
    return [c for i, c in enumerate(codes) if i + 1 == len(codes) or not codes[i + 1].startswith(c)]


def describe(code, tabular):
    if code in tabular:
        return tabular[code][0]
    # A 7th character the tabular list leaves to its sevenChrDef: find the code it extends (dropping the
    # placeholder X's) and add the character's text.
    base, char = code[:-1], code[-1]
    while base not in tabular and base.endswith("X"):
        base = base[:-1]
    if base.endswith("."):
        base = base[:-1]
    desc, defs = tabular[base]
    if char not in defs:
        raise SystemExit(f"{code}: no 7th character {char!r} defined for {base}")
    return f"{desc}, {defs[char]}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.dirname(os.path.abspath(__file__)))
    args = ap.parse_args()

    src = data_dir()
    code_list = next(f for f in sorted(os.listdir(src)) if f.startswith("code-list-"))
    tabular_xml = next(f for f in sorted(os.listdir(src)) if f.endswith(".xml"))
    release = re.search(r"code-list-(\w+)-(\d{4})", code_list)
    months = "January February March April May June July August September October November December".split()
    version = f"{release.group(2)}-{months.index(release.group(1)) + 1:02d}"

    with open(os.path.join(src, code_list), encoding="utf-8") as f:
        all_codes = [line.split()[0].replace(".", "") for line in f if line.strip()]
    tabular = read_tabular(os.path.join(src, tabular_xml))

    lines = []
    for code in billable(all_codes):
        code = dotted(code)
        desc = describe(code, tabular)
        if not desc or "\t" in desc or "\n" in desc:
            raise SystemExit(f"{code}: bad description {desc!r}")
        lines.append(f"{code}\t{desc}\n")

    try:
        from importlib.metadata import version as pkg_version

        pkg = f"simple-icd-10-cm {pkg_version('simple-icd-10-cm')}"
    except Exception:  # noqa: BLE001 - only for the comment line
        pkg = "simple-icd-10-cm"
    header = (
        f"# ICD-10-CM {version} (NCHS/CMS, public domain): {len(lines)} billable codes; "
        f"from {pkg} ({code_list}, {tabular_xml}) by crates/records/data/generate.py\n"
    )
    text = (header + "".join(lines)).encode("utf-8")
    out = os.path.join(args.out_dir, f"icd10cm-{version}.tsv.gz")
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, compresslevel=9, mtime=0) as gz:
        gz.write(text)
    with open(out, "wb") as f:
        f.write(buf.getvalue())
    print(f"{out}: {len(lines)} codes, {len(text)} bytes of text, {len(buf.getvalue())} bytes gzip")


if __name__ == "__main__":
    main()
