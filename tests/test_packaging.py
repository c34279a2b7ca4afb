"""The bench.* namespace resolves in the three ways the project is used."""
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from tests.conftest import REPO

#: this interpreter's site-packages (venv-aware: computed here, where ``site`` ran), added by hand to
#: the ``-S`` subprocesses below so that only they, not ``.pth`` files, provide the dependencies
SITE_PATHS = "import sys; sys.path += " + repr([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]) + "; "
IMPORTS = "import bench.methods, bench.metrics, bench.datasets, bench.reports, bench.configs; " \
          "import bench.methods.base; print(bench.methods.__file__)"


def test_imports_from_checkout_root_without_install():
    # -S skips site-packages' .pth files, so the editable-install finder is not active: only the
    # checkout layout can map methods/ onto bench.methods. Dependencies come from purelib/platlib.
    script = SITE_PATHS + IMPORTS
    proc = subprocess.run([sys.executable, "-S", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(REPO / "methods" / "__init__.py")


@pytest.mark.slow
def test_regular_wheel_install_maps_folders_into_bench(tmp_path):
    target = tmp_path / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                            "--target", str(target), str(REPO)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    for rel in ("methods/base.py", "metrics/base.py", "datasets/__init__.py", "reports/__init__.py"):
        assert (target / "bench" / rel).is_file(), rel
    script = textwrap.dedent(f"""
        import sys
        sys.path = [p for p in sys.path if p not in ('', '.')]
        sys.path.insert(0, {str(target)!r})
        {IMPORTS}
    """)
    proc = subprocess.run([sys.executable, "-S", "-c", SITE_PATHS + "exec(" + repr(script) + ")"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(target / "bench" / "methods" / "__init__.py")
