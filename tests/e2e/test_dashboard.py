"""The three flows in a real browser, against a live Voilà server."""

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from deepq_widgets.data.catalog import scan_dataset
from deepq_widgets.data.preview import render_preview
from tests.e2e.walk import choose_card, choose_dataset, next_step, open_app, shown_preview, start_and_finish
from tests.pacs_server import PASSWORD, USER

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_general_flow_with_auto_select_trains_to_finished(page, voila_url, e2e_ws):
    open_app(page, voila_url)
    page.shots("flow")
    expect(page.get_by_role("button", name="Next ›", exact=True)).to_be_disabled()
    choose_card(page, "General training")
    next_step(page)
    choose_card(page, "Single-label classification")
    page.shots("task-type")
    next_step(page)
    dataset = page.locator(".widget-dropdown select").first
    expect(dataset.locator("option", has_text="tiny_lesions")).to_have_count(1, timeout=30_000)
    expect(page.get_by_text("Choose a dataset.")).to_be_visible()
    dataset.select_option(label="tiny_lesions")
    expect(page.get_by_text("usable cases of 30")).to_be_visible()
    expect(page.locator("img.widget-image").first).to_be_visible()
    page.shots("dataset")
    next_step(page)
    expect(page.get_by_text("Recommended: tf_efficientnet_lite")).to_be_visible()
    page.shots("model-auto")
    next_step(page)
    page.get_by_placeholder("required, unique").fill("e2e general")
    expect(page.get_by_text("✓ name available")).to_be_visible()
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_enabled()
    expect(page.get_by_text("What will run")).to_be_visible()  # the plan and its reasons, before Start
    expect(page.get_by_text("Images are", exact=False).first).to_be_visible()
    page.shots("start")
    start.click()
    expect(page.locator(".dq-badge", has_text="Running").or_(page.locator(".dq-badge", has_text="Waiting"))).to_be_visible(timeout=30_000)
    page.shots("monitor-running")
    expect(page.locator(".dq-badge", has_text="Finished")).to_be_visible(timeout=420_000)
    expect(page.get_by_text("Epoch", exact=False).first).to_be_visible()
    expect(page.get_by_text("cases: these figures are unstable", exact=False).first).to_be_visible()  # few validation cases
    page.shots("monitor-finished")
    page.get_by_text("Evaluation insight", exact=True).click()  # the task detail: calibration, its diagram named
    calibration = page.get_by_text("Calibration (the top class's probability)", exact=False).first
    expect(calibration).to_be_visible()
    expect(page.get_by_text("Reliability diagram", exact=False).first).to_be_visible()
    calibration.scroll_into_view_if_needed()
    page.shots("evaluation-calibration")
    page.get_by_text("Label review", exact=True).click()
    page.get_by_role("button", name="Find likely label errors").click()
    found = page.get_by_text("likely label errors among 30 cases", exact=False)
    expect(found).to_be_visible(timeout=180_000)
    misfiled = page.get_by_text("normal/malignant_025.png", exact=False)  # a malignant case filed as normal (e2e_ws)
    expect(misfiled).to_be_visible()
    card = page.locator(".widget-vbox", has=misfiled).last
    card.locator("select").select_option(label="relabel as malignant")
    page.get_by_role("button", name="Save decisions").click()
    expect(page.get_by_text("1 decision saved (1 relabelled)", exact=False)).to_be_visible()
    corrections = (e2e_ws.datasets / "tiny_lesions" / "label_corrections.csv").read_text()
    assert "normal/malignant_025.png,normal,malignant" in corrections.splitlines()  # beside label.csv, never in it
    expect(page.get_by_role("button", name="Retrain with corrections")).to_be_enabled()
    card.scroll_into_view_if_needed()  # the screenshot shows the cards
    page.shots("label-review")

    page.get_by_role("tab", name="Models").click()
    page.locator(".widget-select select").last.select_option(index=0)
    run_on = page.locator(".widget-dropdown select", has=page.locator("option", has_text="tiny_lesions")).last
    expect(page.get_by_role("button", name="Evaluate on dataset", exact=True)).to_be_disabled()  # until a dataset is chosen
    run_on.select_option(label="sited_lesions")  # 120 cases from two sites, of which the 30 of tiny_lesions it trained on
    page.get_by_role("button", name="Evaluate on dataset", exact=True).click()
    expect(page.get_by_text("e2e-general-t1 on sited_lesions")).to_be_visible(timeout=120_000)  # the Models tab's result
    expect(page.get_by_text("95% intervals", exact=False).last).to_be_visible()  # the Tasks tab, hidden now, has it first
    expect(page.get_by_text("Scored on the 90 of 120 cases the model never saw", exact=False).last).to_be_visible()
    page.shots("models-evaluate")
    page.get_by_text("e2e-general-t1 on sited_lesions").scroll_into_view_if_needed()
    page.shots("models-evaluate-table")
    expect(page.get_by_text("By subgroup").last).to_be_visible()  # site = Boston, site = Taipei
    page.get_by_text("By subgroup").last.scroll_into_view_if_needed()
    page.shots("models-evaluate-subgroups")

    run_on.select_option(label="tiny_lesions")
    page.get_by_role("button", name="Predict", exact=True).click()  # every case, with heatmaps, paged, as CSV
    expect(page.get_by_text("1–12 of 30", exact=False)).to_be_visible(timeout=120_000)
    page.get_by_text("1–12 of 30", exact=False).scroll_into_view_if_needed()
    page.shots("models-predict")
    assert page.elsewhere == [], page.elsewhere  # offline-safe: no stylesheet or script from a CDN
    with page.expect_download() as download:
        page.get_by_text("predictions (CSV)").click()
    assert len(Path(download.value.path()).read_text().splitlines()) == 31  # a header and all 30 cases
    expect(page.get_by_text("Inference list (1)")).to_be_visible()  # the run is kept on the model page
    models_tab = page.locator(".widget-tab-contents > .widget-box").last  # the Tasks tab, hidden, has a toggle too
    models_tab.get_by_role("button", name="Training set", exact=True).click()
    expect(models_tab.get_by_text("the figures are optimistic", exact=False)).to_be_visible()
    page.shots("models-page-training-set")

    page.locator(".widget-dropdown select", has=page.locator("option", has_text="safetensors")).select_option("safetensors")
    page.get_by_role("button", name="Export", exact=True).click()
    link = page.get_by_role("link", name="e2e-general-t1.safetensors")
    expect(link).to_be_visible(timeout=120_000)
    with page.expect_download() as download:
        link.click()
    exported = e2e_ws.root / "exports" / "e2e-general-t1.safetensors"
    assert Path(download.value.path()).read_bytes() == exported.read_bytes()  # the browser got the file itself


def test_specialized_pneumothorax_flow_to_start(page, voila_url):
    open_app(page, voila_url)
    choose_card(page, "Specialized training")
    next_step(page)
    choose_card(page, "Pneumothorax")
    page.shots("preset")
    next_step(page)
    dataset = page.locator(".widget-dropdown select").first
    expect(dataset.locator("option")).to_have_count(2, timeout=30_000)
    dataset.select_option(label="chest_xray_pneumothorax")
    expect(page.get_by_text("split by patient")).to_be_visible()
    page.shots("dataset")
    next_step(page)
    expect(page.get_by_text("Use optimized hyperparameters")).to_be_visible()
    expect(page.get_by_text("Network fixed by the preset")).to_be_visible()
    page.shots("hyperparameters")
    page.get_by_text("Use optimized hyperparameters").click()  # Full Manual: the preset's values, each with its range
    batch = page.get_by_label("Batch size")
    expect(batch).to_be_visible()
    expect(page.get_by_text("1–256, whole number")).to_be_visible()
    page.shots("hyperparameters-manual")
    batch.fill("500")
    batch.press("Enter")
    expect(page.locator(".dq-field-error", has_text="must be between 1 and 256 (got 500)")).to_be_visible()
    expect(batch).to_have_value("500")  # as typed, never clamped
    expect(page.get_by_role("button", name="Next ›")).to_be_disabled()
    page.shots("hyperparameters-refused")
    for label, value in (("Batch size", "16"), ("Training epochs", "200")):  # 200, without early stop: it runs until
        page.get_by_label(label).fill(value)  # stopped below, however fast this machine trains
        page.get_by_label(label).press("Enter")
    page.get_by_label("Early stop").uncheck()
    expect(page.get_by_role("button", name="Next ›")).to_be_enabled()
    next_step(page)
    page.get_by_placeholder("required, unique").fill("e2e pneumothorax")
    start = page.get_by_role("button", name="Start", exact=True)
    expect(start).to_be_enabled()
    expect(page.get_by_text("Operating point")).to_be_visible()  # two classes: the user chooses where a finding is called
    expect(page.get_by_role("button", name="Measure this machine's speed")).to_be_visible()
    page.shots("start")
    start.click()
    badge = page.locator(".dq-badge", has_text="Running").or_(page.locator(".dq-badge", has_text="Waiting"))
    expect(badge).to_be_visible(timeout=30_000)
    page.shots("started")
    tasks_tab = page.get_by_role("tab", name="Tasks")
    page.reload()  # at once, while the task waits for the worker (or has just started): its monitor again
    expect(badge).to_be_visible(timeout=60_000)
    expect(tasks_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator(".dq-badge", has_text="Running")).to_be_visible(timeout=120_000)
    for _ in range(3):  # each reload during training finds the running task again, on a fresh (preheated) kernel
        page.reload()
        expect(page.locator(".dq-badge", has_text="Running")).to_be_visible(timeout=60_000)
        expect(tasks_tab).to_have_attribute("aria-selected", "true")
    page.shots("reloaded-while-running")
    page.get_by_role("button", name="Stop", exact=True).click()  # free the worker for the rest of the suite
    expect(page.locator(".dq-badge", has_text="Stopped")).to_be_visible(timeout=120_000)


def test_retrain_flow_trains_the_model_just_made_on_a_headerless_label_file(page, voila_url):
    """Retrain, end to end, on DeepQ's `label.csv` without a header row: the model trained above, 30 other cases,
    a run to Finished, and a new model that says where it started from."""
    open_app(page, voila_url)
    choose_card(page, "Retrain my model")
    next_step(page)
    models = page.locator(".widget-select select").first
    expect(models.locator("option", has_text="e2e general")).to_have_count(1, timeout=30_000)
    page.shots("retrain-list")
    models.select_option(label=models.locator("option", has_text="e2e general").inner_text())
    expect(page.get_by_text("trained on tiny_lesions")).to_be_visible()
    next_step(page)
    dataset = page.locator(".widget-dropdown select").first
    expect(dataset.locator("option", has_text="tiny_lesions")).to_have_count(1)
    dataset.select_option(label="headerless_lesions")
    expect(page.get_by_text("usable cases of 30")).to_be_visible()  # read without a header row
    expect(page.get_by_text("benign 10", exact=False)).to_be_visible()
    page.shots("retrain-dataset-headerless")
    next_step(page)
    expect(page.get_by_text("Training starts from e2e general", exact=False)).to_be_visible()
    page.get_by_text("Use optimized hyperparameters").click()  # Full Manual from the plan, for a short run
    epochs = page.get_by_label("Training epochs")
    epochs.fill("3")
    epochs.press("Enter")
    page.shots("retrain-model")
    start_and_finish(page, "e2e retrained")
    page.shots("retrain-finished")
    page.get_by_role("tab", name="Models").click()
    choice = page.locator(".widget-select select").last
    expect(choice.locator("option", has_text="e2e retrained")).to_have_count(1, timeout=30_000)
    choice.select_option(label=choice.locator("option", has_text="e2e retrained").inner_text())
    expect(page.get_by_text("headerless_lesions", exact=False).last).to_be_visible()


def test_every_download_works_in_a_browser_on_another_host(remote_browser, e2e_ws):
    """Served on the network with a token, opened from another host (its own network namespace): every file the
    dashboard offers arrives in that browser, none of them a link to a path on the server."""
    from tests.e2e.conftest import Shots, served

    browser, address = remote_browser
    token = "e2e-remote-token"
    with served(e2e_ws, "--ip", "0.0.0.0", "--allow-host", address, env={"DEEPQ_TOKEN": token}) as (port, _):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.shots = Shots(page, "remote-downloads")
        page.goto(f"http://{address}:{port}/?token={token}")
        expect(page.get_by_text("Create new task").first).to_be_visible(timeout=60_000)

        def download(link) -> bytes:
            with page.expect_download() as started:
                link.click()
            return Path(started.value.path()).read_bytes()

        choose_dataset(page, "General training", "Single-label classification", "tiny_lesions")
        next_step(page)
        next_step(page)
        page.get_by_placeholder("required, unique").fill("e2e remote")
        expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled()
        assert json.loads(download(page.get_by_text("Download the task file that will run")))["dataset"] == "tiny_lesions"
        page.shots("start")

        page.get_by_role("tab", name="Tasks").click()
        tasks = page.locator("select:visible", has=page.locator("option", has_text="e2e general"))
        tasks.select_option(label=tasks.locator("option", has_text="e2e general").first.inner_text())
        page.get_by_text("Task file", exact=True).first.click()
        ran = json.loads(download(page.get_by_role("link", name=re.compile(r"^⬇ task file( as run)?$"))))
        assert ran["name"] == "e2e general"
        page.get_by_text("Evaluation insight", exact=True).first.click()
        assert b"95%" in download(page.get_by_role("link", name="⬇ report (HTML)").first)
        page.shots("task-detail")

        page.get_by_role("tab", name="Models").click()
        models = page.locator("select:visible", has=page.locator("option", has_text="e2e general"))
        models.select_option(label=models.locator("option", has_text="e2e general").first.inner_text())
        model_id = "e2e-general-t1"  # the first task's model (the list shows names, not ids)
        card = download(page.get_by_role("link", name="⬇ paper card (Markdown)")).decode()  # for the manuscript
        assert "## Evaluation" in card and "## Questions for the author" in card
        assert b"<h2>Training (as run)</h2>" in download(page.get_by_role("link", name="⬇ paper card (HTML)"))
        run_on = page.locator("select:visible", has=page.locator("option", has_text="Choose a dataset"))
        run_on.select_option(label="tiny_lesions")
        page.get_by_role("button", name="Predict", exact=True).click()
        expect(page.get_by_text("1–12 of 30", exact=False)).to_be_visible(timeout=120_000)
        assert len(download(page.get_by_text("predictions (CSV)")).decode().splitlines()) == 31
        run_on.select_option(label="ultrasound_lesions")
        page.get_by_role("button", name="Evaluate on dataset", exact=True).click()
        expect(page.get_by_text(f"{model_id} on ultrasound_lesions")).to_be_visible(timeout=120_000)
        assert b"95%" in download(page.get_by_role("link", name="⬇ report (HTML)").last)
        page.locator("select:visible", has=page.locator("option", has_text="safetensors")).select_option("onnx")
        page.get_by_role("button", name="Export", exact=True).click()  # streamed by the server, as every export is
        link = page.get_by_role("link", name=f"{model_id}.onnx")
        expect(link).to_be_visible(timeout=180_000)
        assert download(link) == (e2e_ws.root / "exports" / f"{model_id}.onnx").read_bytes()
        card = json.loads(download(page.get_by_role("link", name=f"{model_id}.json")))
        assert card["id"] == model_id
        page.shots("models")
        context.close()


@pytest.mark.parametrize(
    ("task", "dataset", "head"),
    [
        ("Multi-label classification", "fundus_findings", "one sigmoid per label"),
        ("Object detection", "lung_nodules", "FCOS detection head"),
        ("Segmentation", "abdomen_organs", "U-Net-style decoder"),
        ("Regression", "nodule_diameters", "scaled to the quantity"),
    ],
)
def test_every_task_type_walks_to_start(page, voila_url, e2e_ws, task, dataset, head):
    open_app(page, voila_url)
    choose_dataset(page, "General training", task, dataset)
    expect(page.get_by_text("usable cases of", exact=False)).to_be_visible()
    expect(page.locator("img.widget-image").first).to_be_visible()  # its cases drawn, with boxes or masks
    expected = render_preview(scan_dataset(e2e_ws, dataset), 0, 24, columns=6, thumb=150)
    assert shown_preview(page, expected) == expected  # the thumbnails with their captions, as drawn
    page.shots("dataset")
    next_step(page)
    expect(page.get_by_text(head, exact=False).first).to_be_visible()  # the head is named with the network
    page.shots("model")
    page.get_by_text("Show all models to select models manually").click()  # Full Manual, for every task type
    expect(page.get_by_text("Setting hyperparameters")).to_be_visible()
    page.shots("full-manual")
    next_step(page)
    page.get_by_placeholder("required, unique").fill(f"e2e {dataset}")
    expect(page.get_by_role("button", name="Start", exact=True)).to_be_enabled()
    with page.expect_download() as download:  # the task file offered is the one that will run
        page.get_by_text("Download the task file that will run").click()
    will_run = json.loads(Path(download.value.path()).read_text())
    h = will_run["hyper"]
    expect(
        page.get_by_text(f"{will_run['image_size']} px, batch {h['batch_size']}, up to {h['epochs']} epochs", exact=False)
    ).to_be_visible()
    page.shots("start")


def test_a_narrow_window_scrolls_nothing_sideways(page, voila_url):
    """At 800 px (a half-screen window, a tablet) every tab fits: nothing is cut, nothing scrolls sideways."""
    page.set_viewport_size({"width": 800, "height": 900})
    open_app(page, voila_url)
    overflow = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    choose_dataset(page, "General training", "Single-label classification", "ultrasound_lesions")
    expect(page.get_by_text("usable cases of 120")).to_be_visible()
    expect(page.locator("img.widget-image").first).to_be_visible()
    assert page.evaluate(overflow) <= 0
    page.screenshot(path=str(page.shots.folder / "dataset-800.png"), full_page=True)
    next_step(page)
    expect(page.get_by_text("Recommended:", exact=False)).to_be_visible()
    assert page.evaluate(overflow) <= 0
    page.screenshot(path=str(page.shots.folder / "model-800.png"), full_page=True)
    for tab in ("Tasks", "Models"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(500)
        assert page.evaluate(overflow) <= 0, tab
        page.screenshot(path=str(page.shots.folder / f"{tab.lower()}-800.png"), full_page=True)


def test_pulmonary_embolism_on_studies_from_the_study_viewer_to_slice_curves(page, voila_url):
    """The PE preset on study-labelled CT series: the dataset step's study viewer (a strip and a slider through
    the slices), a short Full Manual run, and a task detail with figures per study and slice score curves."""
    open_app(page, voila_url)
    choose_dataset(page, "Specialized training", "Pulmonary embolism", "chest_cta_embolism")
    expect(page.get_by_text("usable studies of 40")).to_be_visible()
    expect(page.get_by_text("Study viewer")).to_be_visible()
    expect(page.get_by_text("slice 13 of 24", exact=False)).to_be_visible()
    slider = page.locator(".widget-slider .slider-container .noUi-handle, .widget-slider input[type=range]").first
    slider.focus()
    for _ in range(3):
        slider.press("ArrowLeft")
    expect(page.get_by_text("slice 10 of 24", exact=False)).to_be_visible(timeout=15_000)
    page.shots("study-viewer")
    next_step(page)
    page.get_by_text("Use optimized hyperparameters").click()  # Full Manual: a short run
    for label, value in (("Training epochs", "2"), ("Batch size", "8"), ("Slices per study", "4")):
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Enter")
    expect(page.get_by_text("Studies", exact=True)).to_be_visible()
    page.shots("study-settings")
    start_and_finish(page, "e2e embolism studies")
    page.get_by_text("Data statistics", exact=True).first.click()
    expect(page.get_by_text("40 studies of 24 slices each", exact=False).first).to_be_visible()  # the data statistics say studies
    page.shots("study-statistics")
    page.get_by_text("Evaluation insight", exact=True).first.click()
    expect(page.get_by_text("95% intervals", exact=False).first).to_be_visible()
    curves = page.get_by_text("Slice scores of", exact=False).first  # the charts' names: the studies' slice curves
    expect(curves).to_be_visible()
    curves.scroll_into_view_if_needed()
    page.shots("study-task-detail")


def test_studies_imported_from_the_pacs_panel_become_the_chosen_dataset(page, voila_url, orthanc):
    """The dataset step's Import from PACS against the real Orthanc: a search (identifiers hidden), an import with a
    labels CSV, and the new dataset chosen for study classification (it fits), its studies in the study viewer. (Three
    studies are too few for the embolism preset, which would list the dataset without choosing it.)"""
    open_app(page, voila_url)
    choose_card(page, "General training")
    next_step(page)
    choose_card(page, "Study classification")
    next_step(page)
    page.get_by_text("Import from PACS").click()
    for label, value in (("DICOMweb URL", orthanc.url), ("User", USER), ("Password", PASSWORD), ("Description", "CTA CHEST")):
        page.get_by_label(label, exact=True).filter(visible=True).fill(value)  # the Models tab has a PACS form too
    page.get_by_role("button", name="Search the PACS").click()
    expect(page.get_by_text("3 studies match")).to_be_visible(timeout=60_000)
    expect(page.get_by_text("PE-0001")).to_have_count(0)  # patient identifiers hidden until asked for
    expect(page.locator("img[alt='middle slice']")).to_have_count(3, timeout=60_000)  # a slice of each study
    page.get_by_text("3 studies match").scroll_into_view_if_needed()
    page.shots("pacs-search")
    page.get_by_label("New dataset", exact=True).fill("embolism_from_pacs")
    labels = b"accession,label\nPE0000,PE\nPE0001,normal\nPE0002,PE\n"
    with page.expect_file_chooser() as chooser:  # the upload button opens the browser's file dialogue
        page.get_by_role("button", name="Labels CSV (accession, label)").click()
    chooser.value.set_files([{"name": "labels.csv", "mimeType": "text/csv", "buffer": labels}])
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("3 studies imported into", exact=False)).to_be_visible(timeout=180_000)
    expect(page.get_by_text("usable studies of 3", exact=False)).to_be_visible(timeout=60_000)  # chosen, as it fits
    expect(page.get_by_text("Study viewer")).to_be_visible()
    page.get_by_text("Study viewer").scroll_into_view_if_needed()
    page.shots("pacs-imported")
