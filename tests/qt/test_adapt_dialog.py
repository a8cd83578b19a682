"""Model > Adapt to this video: a tiny run from the dialog to the end joins the model list, the comparison
and the recent models; cancel leaves no file; the objective is preset from the source."""

from __future__ import annotations

import json

import pytest

from endodepth.qt.adapt_dialog import adapt_to_video
from endodepth.train.adapt_files import card_path


def _menu_action(window, menu_title: str, text: str):
    menu = next(a.menu() for a in window.menuBar().actions() if a.text() == menu_title)
    return next(a for a in menu.actions() if a.text() == text)


def _open(window, wait_frame, path):
    window.set_models(["default"], "cpu")
    window.open_path(path)
    wait_frame(window, 0, "default", timeout=60000)


@pytest.mark.timeout(600)
def test_a_tiny_adapt_from_the_dialog_joins_the_model_list_and_the_comparison(
        window, qtbot, wait_frame, scared_keyframe, tmp_path):
    _open(window, wait_frame, scared_keyframe)
    _menu_action(window, "&Model", "&Adapt to this video...").trigger()
    dialog = window.adapt_dialog
    assert dialog.isVisible() and dialog.objective.currentText() == "stereo"  # preset: a stereo source
    out = tmp_path / "models" / "tiny.safetensors"
    dialog.out.setText(str(out))
    dialog.steps.setValue(3)
    dialog.last.setValue(3)  # frames 4 and 5 are held out
    dialog.start_button.click()
    assert dialog.running and not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.running, timeout=500_000)
    assert dialog.result is not None, dialog.status.text()
    assert out.is_file() and card_path(out).is_file()
    card = json.loads(card_path(out).read_text())
    assert (card["objective"], card["steps"], card["frames"]["range"]) == ("stereo", 3, [0, 4])
    assert {"silog", "gradient", "stereo_photometric"} <= set(card["loss_curve"][0])
    assert len(dialog.losses) == 3 and dialog.curve.getData()[1].tolist() == pytest.approx(dialog.losses)
    assert dialog.progress.value() == 3 and "wrote" in dialog.status.text()

    path = str(out)
    assert window.model_bar.model_box.findText(path) >= 0
    assert window.worker.state.compared == ["stereo", path, "default"]  # relative models aligned to stereo's mm
    assert window.docks["comparison"].isVisible()
    recent = _menu_action(window, "&File", "Open recent &models").menu()
    assert [a.text() for a in recent.actions()] == [str(out.resolve())]
    qtbot.waitUntil(lambda: path in [window.comparison_view.model_list.item(i).toolTip()  # shown by file name
                                     for i in range(window.comparison_view.model_list.count())], timeout=60000)
    assert set(window.comparison_view.checked()) == {path, "default", "stereo"}


@pytest.mark.timeout(600)
def test_cancel_from_the_dialog_leaves_no_file(window, qtbot, wait_frame, image_folder, tmp_path):
    _open(window, wait_frame, image_folder)
    dialog = adapt_to_video(window)
    assert dialog.objective.currentText() == "mono"
    assert not dialog.objective.model().item(0).isEnabled()  # no stereo objective for a mono source
    folder = tmp_path / "out"
    folder.mkdir()
    dialog.out.setText(str(folder / "never.safetensors"))
    dialog.steps.setValue(10_000)
    dialog.start_button.click()
    qtbot.waitUntil(lambda: len(dialog.losses) >= 2, timeout=300_000)
    assert "left" in dialog.status.text()  # an estimate of the time left
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: not dialog.running, timeout=120_000)
    assert dialog.result is None and "cancelled" in dialog.status.text()
    assert list(folder.iterdir()) == []
    assert window.model_bar.model_box.findText(str(folder / "never.safetensors")) < 0
    assert dialog.start_button.isEnabled()


def test_adapting_needs_an_open_source(window):
    assert adapt_to_video(window) is None
    assert "open a video first" in window.labels.notice.text()
