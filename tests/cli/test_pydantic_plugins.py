"""cli/pydantic_plugins.py: the start-up's own look for pydantic plugins must agree with
``importlib.metadata`` (the look pydantic makes), and a server with a plugin installed
must still load it."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from threadline.cli.pydantic_plugins import no_pydantic_plugins

REPO = Path(__file__).resolve().parents[2]


def _metadata_says(root: Path) -> bool:
    """What pydantic's loader would find on ``[root]``: no ``pydantic`` entry point."""
    found = [
        ep
        for dist in importlib.metadata.distributions(path=[str(root)])
        for ep in dist.entry_points
        if ep.group == "pydantic"
    ]
    return not found


def _dist(root: Path, name: str, entry_points: str | None, *, suffix: str = ".dist-info") -> None:
    info = root / f"{name}-1.0{suffix}"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    if entry_points is not None:
        (info / "entry_points.txt").write_text(entry_points)


CASES = {
    "none": [],
    "no entry points": [("plain", None)],
    "other groups": [("tool", "[console_scripts]\ntool = tool:main\n\n[other]\npydantic = x:y\n")],
    "a plugin": [("plug", "[console_scripts]\nplug = plug:main\n[pydantic]\nplug = plug:plugin\n")],
    "spaced header": [("plug", "  [pydantic]  \nplug = plug:plugin\n")],
    "doubled brackets": [("plug", "[[pydantic]]\nplug = plug:plugin\n")],
    "inner spaces": [("plug", "[ pydantic ]\nplug = plug:plugin\n")],
    "commented": [("plug", "#[pydantic]\n# plug = plug:plugin\n")],
    "egg-info": [("egg", "[pydantic]\negg = egg:plugin\n")],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_agrees_with_importlib_metadata(tmp_path: Path, case: str) -> None:
    root = tmp_path / "site"
    root.mkdir()
    for name, text in CASES[case]:
        _dist(root, name, text, suffix=".egg-info" if case == "egg-info" else ".dist-info")
    expected = _metadata_says(root)
    assert no_pydantic_plugins([str(root)]) is expected
    # The cases that declare the group are found by both.
    if case in ("a plugin", "spaced header", "doubled brackets", "egg-info"):
        assert expected is False


def test_this_environment_and_what_it_cannot_read(tmp_path: Path) -> None:
    everything = list(importlib.metadata.entry_points(group="pydantic"))
    assert no_pydantic_plugins() is (not everything)
    missing = tmp_path / "missing"
    assert no_pydantic_plugins([str(missing)]) is True
    archive = tmp_path / "deps.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("plain-1.0.dist-info/METADATA", "Name: plain\n")
    assert no_pydantic_plugins([str(archive)]) is False  # a zip: left to importlib.metadata


_PLUGIN = '''
import os
class _Plugin:
    def new_schema_validator(self, schema, schema_type, schema_type_path, schema_kind,
                             config, plugin_settings):
        with open(os.environ["TL_PLUGIN_MARK"], "a") as f:
            f.write(schema_type_path.name + "\\n")
        return None, None, None
plugin = _Plugin()
'''


def _serve_initialize(tmp_path: Path, extra_path: Path | None) -> dict[str, object]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    mark = tmp_path / "mark.txt"
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env.update(THREADLINE_HOME=str(home), CODEX_HOME=str(home), TL_PLUGIN_MARK=str(mark),
               THREADLINE_WARM_UP="0")
    paths = [str(REPO / "src")] + ([str(extra_path)] if extra_path else [])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    request = {"id": 1, "method": "initialize",
               "params": {"clientInfo": {"name": "t", "title": None, "version": "1"}}}
    out = subprocess.run(
        [sys.executable, "-m", "threadline", "app-server"],
        input=json.dumps(request) + "\n", capture_output=True, text=True, timeout=120,
        env=env, cwd=tmp_path,
    )
    answer: dict[str, object] = json.loads(out.stdout.splitlines()[0])
    return {"answer": answer, "marks": mark.read_text().split() if mark.exists() else []}


def test_a_server_still_loads_an_installed_plugin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "tlplugin.py").write_text(_PLUGIN)
    _dist(site, "tlplugin", "[pydantic]\ntlplugin = tlplugin:plugin\n")
    with_plugin = _serve_initialize(tmp_path, site)
    assert "result" in with_plugin["answer"]  # type: ignore[operator]
    assert with_plugin["marks"], "the plugin was never asked for a validator"
    (tmp_path / "mark.txt").unlink()
    without = _serve_initialize(tmp_path, None)
    assert without["marks"] == []
    assert without["answer"] == with_plugin["answer"]


def test_a_start_without_plugins_never_imports_importlib_metadata(tmp_path: Path) -> None:
    probe = """
import json, sys
from threadline.cli.pydantic_plugins import skip_plugin_lookup
skipped = skip_plugin_lookup()
from pathlib import Path
from threadline.core.config import load_config
from threadline.server import build_app_server
from threadline.protocol.v2.initialize import InitializeParams
server, manager = build_app_server(load_config(home=Path(sys.argv[1])))
InitializeParams.model_validate({"clientInfo": {"name": "x", "version": "1"}})
print(json.dumps({"skipped": skipped, "metadata": "importlib.metadata" in sys.modules}))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    out = subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True, text=True, check=True, timeout=120, env=env,
    )
    assert json.loads(out.stdout) == {"skipped": True, "metadata": False}
