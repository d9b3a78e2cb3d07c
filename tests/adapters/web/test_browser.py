"""The clinician page in a real browser: vignettes typed in, a Bundle loaded, keyboard
only, an invalid value, and the printed summary."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from rccnav.adapters.intake import read_input
from rccnav.adapters.web.form import case_to_form, fields_by_path

from ..conftest import VIGNETTES

pytestmark = pytest.mark.skipif(not VIGNETTES.is_dir(), reason="../shared/vignettes is not present")

# Vignettes typed in by hand: risk groups, preferred regimens and warnings differ.
TYPED = ("p03-poor", "p05-ecog3", "p10-after-ipi-nivo", "p12-lupus", "p02-thrombocytosis")


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VIGNETTES / f"{name}.expected.json").read_text())
    return data


def _wait_updated(page: Any) -> None:
    """Wait until the last change's assessment is on the page (or its problems are)."""
    page.wait_for_selector('#case-form[data-state="idle"]', state="attached")


def _type_case(page: Any, values: dict[str, Any]) -> None:
    """Enter a form map as a clinician would: add rows, type text, pick options."""
    for name, value in values.items():
        if name.endswith(".source") or name.endswith(".sources"):
            continue  # provenance is not typed by hand
        match = re.match(r"^(.*)\.(\d+)\.", name)
        if match:
            row_id = "g-" + f"{match.group(1)}.{match.group(2)}".replace(".", "-")
            while page.locator(f"#{row_id}").count() == 0:
                page.click(f'button[data-add="{match.group(1)}"]')
        spec = fields_by_path()[re.sub(r"\.\d+\.", ".__i__.", name)]
        dom_id = "f-" + name.replace(".", "-")
        if spec.kind == "choices":
            for option in value:
                page.check(f'input[name="{name}"][value="{option}"]')
        elif spec.kind in ("boolean", "choice"):
            page.select_option(f"#{dom_id}", value)
        else:
            page.fill(f"#{dom_id}", value)


def _check_expected(page: Any, expect: dict[str, Any]) -> None:
    imdc = page.get_by_test_id("imdc-group")
    if "imdc_group" in expect:
        assert imdc.get_attribute("data-group") == (expect["imdc_group"] or "undetermined")
    if "imdc_possible" in expect:
        assert set(imdc.get_attribute("data-possible").split()) == set(expect["imdc_possible"])
    if "mskcc_group" in expect:
        mskcc = page.get_by_test_id("mskcc-group").get_attribute("data-group")
        assert mskcc == (expect["mskcc_group"] or "undetermined")
    preferred = set(
        page.get_by_test_id("preferred")
        .locator("li[data-regimen]")
        .evaluate_all("items => items.map(i => i.dataset.regimen)")
    )
    assert set(expect.get("pref_has", ())) <= preferred
    assert not set(expect.get("pref_lacks", ())) & preferred
    codes = set(
        page.get_by_test_id("warnings")
        .locator("li[data-code]")
        .evaluate_all("items => items.map(i => i.dataset.code)")
    )
    assert set(expect.get("warn_has", ())) <= codes
    assert not set(expect.get("warn_lacks", ())) & codes


@pytest.mark.parametrize("name", TYPED)
def test_typed_vignette_shows_the_expected_answer(page: Any, name: str, tmp_path: Path) -> None:
    expected = _expected(name)
    on = date.fromisoformat(expected["on"])
    case = read_input((VIGNETTES / f"{name}.json").read_bytes(), name=name, on=on).case
    values, _ = case_to_form(case.model_copy(update={"assessment_date": on}))
    _type_case(page, values)
    _wait_updated(page)
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)
    _check_expected(page, expected["expect"])


def test_uploaded_bundle_fills_the_form_with_sources(page: Any, tmp_path: Path) -> None:
    expected = _expected("p03-poor")
    page.get_by_test_id("assessment-date").fill(expected["on"])
    page.get_by_test_id("file-input").set_input_files(str(VIGNETTES / "p03-poor.json"))
    expect(page.locator("#file-status")).to_have_text(re.compile("^Filled from"))
    _wait_updated(page)
    page.screenshot(path=str(tmp_path / "uploaded.png"), full_page=True)
    assert page.locator("#f-performance-kps").input_value() == "60"
    assert page.locator("#src-f-performance-kps").inner_text().startswith("Observation/")
    assert page.locator("#src-f-labs-hemoglobin-value").inner_text().startswith("Observation/")
    _check_expected(page, expected["expect"])
    # Editing a filled value: it is no longer the file's, so its source mark goes.
    page.fill("#f-performance-kps", "90")
    assert page.locator("#src-f-performance-kps").inner_text() == ""


def test_keyboard_only(page: Any, tmp_path: Path) -> None:
    """Reach the KPS field with Tab alone, type, and open a result's reasons with Enter."""
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "performance.kps":
            break
    else:
        pytest.fail("the KPS field cannot be reached with the Tab key")
    page.keyboard.type("50")
    page.keyboard.press("Tab")  # ECOG
    page.keyboard.press("Tab")  # date
    _wait_updated(page)
    assert "performance_status" in page.locator("tr.factor-present").evaluate_all(
        "rows => rows.map(r => r.dataset.factor)"
    )
    # Add a metastatic site with the keyboard: the new row's first field takes the focus.
    add = page.locator('button[data-add="disease.metastases"]')
    add.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.name") == "disease.metastases.0.site"
    page.keyboard.press("ArrowDown")  # first site in the list
    page.keyboard.press("Tab")
    _wait_updated(page)
    summary = page.locator("#decision-cn summary")
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("#decision-cn").get_attribute("open") is not None
    page.screenshot(path=str(tmp_path / "keyboard.png"), full_page=True)


def test_invalid_value_is_marked_at_its_field_and_survives_reload(
    page: Any, tmp_path: Path
) -> None:
    page.fill("#f-performance-kps", "75")
    error = page.locator("#err-f-performance-kps")
    error.wait_for(state="visible")
    assert "KPS must be a multiple of 10" in error.inner_text()
    assert page.locator("#f-performance-kps").get_attribute("aria-invalid") == "true"
    page.screenshot(path=str(tmp_path / "invalid.png"), full_page=True)
    page.reload()
    page.locator("#err-f-performance-kps").wait_for(state="visible")
    assert page.locator("#f-performance-kps").input_value() == "75"  # nothing typed is lost
    page.fill("#f-performance-kps", "70")
    _wait_updated(page)
    assert page.locator("#err-f-performance-kps").is_hidden()
    assert page.locator("#f-performance-kps").get_attribute("aria-invalid") is None


def test_printed_summary_is_one_dated_page(page: Any, tmp_path: Path) -> None:
    from pypdf import PdfReader

    expected = _expected("p05-ecog3")
    page.get_by_test_id("assessment-date").fill(expected["on"])
    page.get_by_test_id("file-input").set_input_files(str(VIGNETTES / "p05-ecog3.json"))
    expect(page.locator("#file-status")).to_have_text(re.compile("^Filled from"))
    _wait_updated(page)
    assert page.get_by_role("button", name="Print / PDF tumour-board summary").is_visible()
    target = tmp_path / "summary.pdf"
    page.pdf(path=str(target), format="A4", print_background=True)
    reader = PdfReader(str(target))
    text = " ".join(" ".join(p.extract_text() for p in reader.pages).split())
    assert len(reader.pages) == 1
    assert "Tumour-board summary" in text
    assert re.search(rf"Assessment date\s+{expected['on']}", text)
    assert re.search(r"knowledge base\s+\S+\s+\([0-9a-f]{12}\)", text)
    assert "not a substitute for clinical judgement" in text
    assert "Review status" in text
    group = page.get_by_test_id("imdc-group").get_attribute("data-group")
    assert f"IMDC: {group}" in text
    assert "Load a FHIR Bundle" not in text  # the form is not printed
