"""cascade.progress: plain lines off a terminal, one redrawn bar on one, people's wording."""
import io

from cascade.progress import Progress, duration, plural


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plural_and_duration_wording():
    assert plural(1, "scan") == "1 scan" and plural(2, "scan") == "2 scans" and plural(0, "scan") == "0 scans"
    assert duration(0.2) == "<1 s" and duration(12.4) == "12 s"
    assert duration(185) == "3 min 05 s" and duration(3720) == "1 h 02 min"


def test_plain_lines_when_not_a_terminal():
    out = io.StringIO()
    with Progress(3, "scans", stream=out) as bar:
        bar.log("[1/3] a")
        bar.step("a")
        bar.step("b")
        bar.step("c")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[1/3] a"
    assert lines[1].startswith("scans 1/3 (33 %), about ") and lines[1].endswith(" left: a")
    assert lines[3].startswith("scans 3/3 (100 %), ") and "left" not in lines[3]
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
    assert "about 0 s" not in out.getvalue()


def test_one_redrawn_bar_on_a_terminal():
    out = _Tty()
    with Progress(2, "epochs", stream=out) as bar:
        bar.step("loss 3.1 mm")
        bar.log("epoch 1: val 12.0 mm")
        bar.step("loss 2.0 mm")
    text = out.getvalue()
    assert text.count("\n") == 2  # the logged line and the final newline: the bar itself is redrawn
    assert "epoch 1: val 12.0 mm\n" in text and "[########################] epochs 2/2" in text
