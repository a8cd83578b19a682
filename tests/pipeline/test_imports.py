import subprocess
import sys


def test_reading_a_source_does_not_load_torch():
    """`endodepth info` and the data layer stay light: Frame's package must not pull in the models."""
    code = (
        "import sys; import endodepth.commands.info, endodepth.io.detect, endodepth.frame; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('endodepth.models')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
