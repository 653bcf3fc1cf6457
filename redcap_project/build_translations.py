"""Write the MLM language files (``translations/<lang>.mlm.json``, the files REDCap's
Multi-Language Management imports) from their readable sources (``translations/<lang>.toml``),
for every ``[[languages]]`` entry of ``project.toml``. Edit the TOML, run this, commit both::

    .venv/bin/python redcap_project/build_translations.py

``sgbm-redcap dictionary lint redcap_project/`` checks the translation against the
dictionary and fails when a language file is not what this script writes from its source.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sgbm_redcap.dictionary.project import load_project  # noqa: E402
from sgbm_redcap.dictionary.translation_lint import generated_mlm  # noqa: E402


def main() -> None:
    project = load_project(HERE)
    for spec in project.languages:
        text = generated_mlm(project, spec)
        target = HERE / spec.mlm
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(HERE.parent)} ({spec.id}) from {spec.source}")


if __name__ == "__main__":
    main()
