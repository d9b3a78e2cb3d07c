"""The compiled cache saves time only: same objects, rebuilt on any YAML change."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rccnav.knowledge.loader import default_data_dir, load_knowledge_base
from rccnav.knowledge.terminology import default_terminology_path, load_terminology


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("RCCNAV_CACHE_DIR", str(folder))
    monkeypatch.delenv("RCCNAV_NO_CACHE", raising=False)
    return folder


def _copy_kb(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(default_data_dir(), target)
    return target


def test_second_load_comes_from_the_cache_and_equals_the_first(cache: Path, tmp_path: Path) -> None:
    data_dir = _copy_kb(tmp_path)
    first = load_knowledge_base(data_dir)
    stored = sorted(cache.glob("knowledge-base-*.pickle"))
    assert len(stored) == 1
    second = load_knowledge_base(data_dir)
    assert second == first
    assert second.checksum == first.checksum


def test_an_edited_yaml_file_is_rebuilt_not_served_stale(cache: Path, tmp_path: Path) -> None:
    data_dir = _copy_kb(tmp_path)
    before = load_knowledge_base(data_dir)
    meta = data_dir / "meta.yaml"
    meta.write_text(meta.read_text().replace(before.version, "9999.1.0"))
    after = load_knowledge_base(data_dir)
    assert after.version == "9999.1.0"
    assert after.checksum != before.checksum
    assert len(list(cache.glob("knowledge-base-*.pickle"))) == 2


def test_a_corrupt_cache_file_is_ignored(cache: Path, tmp_path: Path) -> None:
    data_dir = _copy_kb(tmp_path)
    fresh = load_knowledge_base(data_dir)
    for path in cache.glob("*.pickle"):
        path.write_bytes(b"not a pickle")
    assert load_knowledge_base(data_dir) == fresh


def test_no_cache_when_turned_off_or_unwritable(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RCCNAV_NO_CACHE", "1")
    fresh = load_knowledge_base(_copy_kb(tmp_path))
    assert not cache.exists()
    monkeypatch.delenv("RCCNAV_NO_CACHE")
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("RCCNAV_CACHE_DIR", str(blocked / "cache"))
    assert load_knowledge_base(tmp_path / "kb") == fresh


def test_terminology_cache_round_trips(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "terminology.yaml"
    shutil.copy(default_terminology_path(), source)
    first = load_terminology(source)
    second = load_terminology(source)
    assert len(list(cache.glob("terminology-*.pickle"))) == 1
    assert second.version == first.version
    assert second.data == first.data


def test_changed_knowledge_base_code_is_rebuilt_not_served_stale(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pickle made before a new field or index was added must not be served."""
    from rccnav.knowledge import compiled_cache

    data_dir = _copy_kb(tmp_path)
    load_knowledge_base(data_dir)
    monkeypatch.setattr(compiled_cache, "_code_digest", lambda: "code of another version")
    rebuilt = load_knowledge_base(data_dir)
    assert len(list(cache.glob("knowledge-base-*.pickle"))) == 2
    assert rebuilt.numbers  # indexes of the current code


def _edit_terminology(tmp_path: Path, old: str, new: str) -> Path:
    source = tmp_path / "terminology.yaml"
    text = default_terminology_path().read_text(encoding="utf-8")
    assert old in text
    source.write_text(text.replace(old, new, 1), encoding="utf-8")
    return source


def test_an_edited_terminology_is_rebuilt_not_served_stale(cache: Path, tmp_path: Path) -> None:
    source = tmp_path / "terminology.yaml"
    shutil.copy(default_terminology_path(), source)
    before = load_terminology(source)
    assert before.match_text("rcc-primary", "hypernephroma of the left kidney")
    assert not before.match_text("rcc-primary", "grawitz tumour")
    # A reviewer edits one free-text rule: the next load must use the edited rule.
    edited = _edit_terminology(tmp_path, '{pattern: "hypernephroma"}', '{pattern: "grawitz"}')
    after = load_terminology(edited)
    assert len(list(cache.glob("terminology-*.pickle"))) == 2
    assert after.match_text("rcc-primary", "grawitz tumour")
    assert not after.match_text("rcc-primary", "hypernephroma of the left kidney")


def test_a_bad_text_pattern_is_refused_when_loaded_not_when_first_used(
    cache: Path, tmp_path: Path
) -> None:
    # Text patterns are compiled on first use, but a broken one still fails the load.
    from rccnav.knowledge.terminology import TerminologyError

    edited = _edit_terminology(
        tmp_path, '{pattern: "hypernephroma"}', '{pattern: "hyper(nephroma"}'
    )
    with pytest.raises(TerminologyError, match="bad pattern"):
        load_terminology(edited)
    assert not list(cache.glob("terminology-*.pickle"))


def test_cached_terminology_matches_text_as_the_freshly_built_one(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "terminology.yaml"
    shutil.copy(default_terminology_path(), source)
    load_terminology(source)
    cached = load_terminology(source)  # from the pickle: patterns not yet compiled
    monkeypatch.setenv("RCCNAV_NO_CACHE", "1")
    fresh = load_terminology(source)
    probes = [
        concept.display for value_set in fresh.value_sets for concept in value_set.concepts
    ] + [rule.pattern for value_set in fresh.value_sets for rule in value_set.text]
    probes += ["Renal cell carcinoma, clear cell", "RCC", "FH-deficient", "no match here"]
    compared = 0
    for value_set in fresh.value_sets:
        if not value_set.text:
            continue
        for probe in probes:
            got, want = (
                cached.match_text(value_set.id, probe),
                fresh.match_text(value_set.id, probe),
            )
            assert (got and got.rule) == (want and want.rule), (value_set.id, probe)
            compared += want is not None
    assert compared > 20  # the probes do reach the rules
