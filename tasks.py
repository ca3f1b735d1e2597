"""Set up and run the project's two everyday jobs with nothing but Python 3.11+.

    python3 tasks.py report   # virtual env + install, then `repkpi report` on data/sample
    python3 tasks.py test     # virtual env + test dependencies, then the whole test suite
    python3 tasks.py docs     # virtual env + the docs tools, then the documentation site in site/

The virtual env is ``.venv`` beside this file, created when missing; extra
arguments after ``test`` go to pytest. Tests run on every core (pytest-xdist,
one test file per worker at a time, so a file's fixtures are set up once);
``-n 0`` runs them in one process, ``-m "not slow and not browser"`` runs the
quick part. ``docs`` builds the site from docs/ with Sphinx, from scratch each
time (the notebooks are executed, never shown with old outputs), warnings as
errors; open ``site/index.html``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
SITE = ROOT / "site"


def ensure_env() -> None:
    """Create the virtual env and install the project with its extras when needed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (tasks.py may be run by an older python3)
        sys.exit(f"repkpi needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print(f"Creating the virtual env in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print("Installing repkpi and its dependencies (first run only) ...", flush=True)
    run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[dev,notebooks,docs]"])
    stamp.write_text(wanted)


def docs_command(python: object = PYTHON, out: Path = SITE) -> list[str]:
    """The command that builds the documentation site into ``out``.

    From scratch (``-E``: every page read again, every notebook executed),
    warnings as errors (``-W``, with every one listed first: ``--keep-going``)
    and a reference that resolves nowhere among them (``-n``). Sphinx keeps
    its parsed pages in ``out/.doctrees``.
    """
    return [str(python), "-m", "sphinx", "-b", "html", "-E", "-W", "--keep-going", "-n", "-q",
            str(ROOT / "docs"), str(out)]


def site_is_current(out: Path = SITE) -> bool:
    """Whether ``out`` holds a site built after the last change to what it is built from."""
    home = out / "index.html"
    if not home.is_file():
        return False
    sources = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md"), *(ROOT / "docs").rglob("*.py"),
               *(ROOT / "repkpi").rglob("*.py"), *(ROOT / "notebooks").glob("*.ipynb")]
    return max(path.stat().st_mtime for path in sources) <= home.stat().st_mtime


def ensure_site(python: object = PYTHON, out: Path = SITE) -> Path:
    """``out``, built unless it is current (one build at a time: others wait for it, then use it).

    Raises ``subprocess.CalledProcessError`` when the build fails (Sphinx has
    printed why).
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f".{out.name}.lock", "w") as lock:
        if os.name != "nt":  # Windows has no fcntl: builds there are not guarded against each other
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        if not site_is_current(out):
            subprocess.run(docs_command(python, out), cwd=ROOT, check=True)
            shutil.rmtree(out.parent / "jupyter_execute", ignore_errors=True)
    return out


def run(command: list[object]) -> None:
    """Run a command, stopping with its exit code when it fails."""
    code = subprocess.call([str(c) for c in command], cwd=ROOT)
    if code != 0:
        sys.exit(code)


def main(argv: list[str]) -> int:
    """Run the job named in ``argv``."""
    job = argv[0] if argv else ""
    if job not in ("report", "test", "docs"):
        print(__doc__)
        return 2
    ensure_env()
    if job == "test":
        parallel = ["-n", "auto", "--dist", "loadfile"]
        # nbmake (installed for `pytest --nbmake notebooks/`) is not used by the suite, whose
        # notebook tests run nbclient themselves: loading the plugin imports nbformat, about 2 s
        # of CPU in the main process and in each worker.
        plugins = ["-p", "no:nbmake"]
        # The package byte-compiled once: the tests start some thirty Python processes (workers
        # of Dask clusters, notebook kernels, the command line), and where the environment sets
        # PYTHONDONTWRITEBYTECODE each of them would compile every module of repkpi again.
        run([PYTHON, "-m", "compileall", "-q", ROOT / "repkpi"])
        return subprocess.call([str(PYTHON), "-m", "pytest", *parallel, *plugins, *argv[1:]], cwd=ROOT)
    if job == "docs":
        run(docs_command())
        shutil.rmtree(ROOT / "jupyter_execute", ignore_errors=True)  # MyST-NB's copies, beside site/
        print(f"Open {SITE / 'index.html'} in a browser.")
        return 0
    out = ROOT / "reports" / "sample"
    run([BIN / "repkpi", "report", ROOT / "data" / "sample", "--out", out])
    print(f"Open {out / 'report.html'} in a browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
