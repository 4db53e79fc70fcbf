"""A reader's first minutes: the home page's install command, run as written in a copy of the
repository, then the home page's code with the Python it installed.

No browser and no built site: the commands are read from the home page's source (test_site.py
checks that the rendered page shows exactly these), so CI runs this (`nox -s quickstart`) beside
the docs build, whose one process leaves a core idle.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOME_PAGE = ROOT / "docs" / "index.md"


def quick_start() -> tuple[list[str], list[str]]:
    """The home page's shell commands and Python snippets (its ```bash and ```python blocks)."""
    text = HOME_PAGE.read_text()
    blocks = re.findall(r"^```(bash|python)\n(.*?)^```$", text, flags=re.M | re.S)
    return (
        [code.strip() for language, code in blocks if language == "bash"],
        [code.strip() for language, code in blocks if language == "python"],
    )


def test_quick_start_on_the_home_page_runs(tmp_path):
    """pip's byte-compilation of what it installs is skipped (PIP_COMPILE=0, which is
    `--no-compile`): it decides how fast the first import is, not whether the install works, and
    takes about 40% of the install's time."""
    commands, snippets = quick_start()
    assert commands and snippets, "no install command or Python quick start on the home page"
    clone = tmp_path / "clone"
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for name in tracked:
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    for command in commands:
        installed = subprocess.run(
            ["bash", "-c", command],
            cwd=clone,
            env={**os.environ, "PIP_COMPILE": "0"},
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert installed.returncode == 0, installed.stderr[-3000:]
    script = tmp_path / "quick_start.py"
    script.write_text("\n\n".join(snippets))
    result = subprocess.run(
        [str(clone / ".venv" / "bin" / "python"), str(script)],
        cwd=tmp_path,  # not the clone: the installed package, not its source folder
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
