"""Print Chatweb's dependencies from pyproject.toml, one per line, for `pip install -r`.

    python scripts/requirements.py          # what the app needs to run
    python scripts/requirements.py dev      # plus the named optional extras

The app runs from its checkout (manage.py and `python -m streaming.server` import it from
the working directory), so installing the dependencies is all a setup needs: no build of
the project itself, which would cost an isolated setuptools environment on every fresh
clone (`make run`) and every image build (Dockerfile).
"""

import sys
import tomllib
from pathlib import Path

project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())[
    "project"
]
lines = list(project["dependencies"])
for extra in sys.argv[1:]:
    lines += project["optional-dependencies"][extra]
print("\n".join(lines))
