"""The one-line switch ``import opensagemaker.as_sagemaker``, checked in fresh interpreters (it edits sys.modules)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.conftest import REPO


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)


def test_switch_maps_the_tutorial_imports_onto_opensagemaker() -> None:
    result = run_python(
        """
        import opensagemaker.as_sagemaker
        import sagemaker
        import sagemaker.amazon.common as smac
        from sagemaker import get_execution_role
        from sagemaker.amazon.amazon_estimator import get_image_uri
        from sagemaker.predictor import csv_serializer, json_deserializer
        from sagemaker.session import s3_input
        from sagemaker.inputs import TrainingInput
        import opensagemaker, opensagemaker.estimator, opensagemaker.amazon.common
        assert sagemaker is opensagemaker
        assert sagemaker.estimator.Estimator is opensagemaker.estimator.Estimator
        assert smac is opensagemaker.amazon.common
        assert s3_input.__module__ == "opensagemaker.inputs" and issubclass(s3_input, TrainingInput)
        assert csv_serializer.content_type == "text/csv" and json_deserializer.accept == "application/json"
        assert get_image_uri("us-west-2", "knn") == "174872318107.dkr.ecr.us-west-2.amazonaws.com/knn:1"
        assert sagemaker.s3_input is s3_input and callable(get_execution_role)
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_without_the_switch_sagemaker_is_not_shadowed() -> None:
    result = run_python(
        """
        import importlib.util, sys
        import opensagemaker
        spec = importlib.util.find_spec("sagemaker")
        origin = getattr(spec, "origin", None) or ""
        print("opensagemaker" if spec is not None and "/sdk/" in origin else "untouched")
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "untouched"


def test_a_submodule_opensagemaker_lacks_is_named_in_the_error() -> None:
    result = run_python(
        """
        import opensagemaker.as_sagemaker
        import sagemaker.tuner
        """
    )
    assert result.returncode != 0
    assert "No module named 'sagemaker.tuner'" in result.stderr
    assert "opensagemaker.tuner" in result.stderr


def test_switch_refuses_when_the_real_sagemaker_is_already_imported() -> None:
    result = run_python(
        """
        import sys, types
        sys.modules["sagemaker"] = types.ModuleType("sagemaker")  # stands in for the real package
        import opensagemaker.as_sagemaker
        """
    )
    assert result.returncode != 0
    assert "the real 'sagemaker' package is already imported" in result.stderr


def test_uninstall_restores_plain_imports() -> None:
    result = run_python(
        """
        import sys
        import opensagemaker.as_sagemaker as switch
        import sagemaker.estimator
        switch.uninstall()
        assert "sagemaker" not in sys.modules and not switch.installed()
        try:
            import sagemaker.estimator
        except ModuleNotFoundError:
            print("gone")
        else:
            print("sagemaker" in str(sys.modules["sagemaker"]))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "gone"
