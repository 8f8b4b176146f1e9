"""Conversation history, provenance lines and export to Markdown / JSON (no QGIS needed)."""

import json

from core.results import AnswerResult, Box, ClassStat, GroundResult, Provenance, Retrieved, to_dict
from plugin.conversation import DONE, FAILED, Conversation, answer_text, format_area, provenance_lines


def _provenance() -> Provenance:
    return Provenance(
        raster="/data/scene.tif", crs="EPSG:32618",
        class_stats=[ClassStat("forest", 123456.0, 12.3456, 0.42, 3, position="north-west"),
                     ClassStat("water", 2500.0, 0.25, 0.01, 1), ClassStat("road", 0.0, 0.0, 0.0, 0)],
        retrieved=[Retrieved("a wooded shore beside a lagoon", 0.8123, "scene")],
        tiles=6, timings={"segment": 1.25, "generate": 0.5}, device="cpu", model_id="tiny",
    )


def test_format_area_reads_in_m2_ha_and_km2() -> None:
    assert format_area(1234.4) == "1,234 m² (0.12 ha)"
    assert format_area(25_000_000) == "25.00 km² (2,500 ha)"


def test_provenance_lines_list_classes_retrieved_and_run_facts() -> None:
    lines = provenance_lines(to_dict(_provenance()))
    assert lines[0].startswith("forest: 123,456 m² (12.35 ha), 42.0%, 3 patches, north-west")
    assert lines[1].startswith("water: 2,500 m² (0.25 ha)") and "1 patch" in lines[1]
    assert not any(line.startswith("road") for line in lines)  # empty classes are left out
    assert lines[2] == "retrieved (0.81) [scene]: a wooded shore beside a lagoon"
    assert lines[3] == "6 tiles · device cpu · backend torch · 1.8 s · model tiny"
    assert provenance_lines(None) == []


def test_answer_text_per_kind() -> None:
    boxes = [Box(0, 0, 1, 1, "playground", 0.9), Box(2, 2, 3, 3, "playground", 0.4)]
    ground = to_dict(GroundResult("playgrounds", boxes, None, [], _provenance()))
    assert answer_text("ground", ground) == "Found 2 boxes: playground for \u201cplaygrounds\u201d."
    assert answer_text("classify", {"label": "forest", "scores": {"forest": 0.75}}) == "forest (0.75)"
    assert answer_text("caption", {"caption": "A lagoon."}) == "A lagoon."


def test_export_markdown_and_json_round_trip(tmp_path) -> None:
    conv = Conversation()
    turn = conv.add("ask", "How much forest?", "map view", "scene")
    result = AnswerResult("How much forest?", "About 42%.", None, _provenance())
    turn.result, turn.result_obj, turn.answer, turn.status = to_dict(result), result, result.answer, DONE
    failed = conv.add("ground", "find ponds", "drawn box", "scene")
    failed.status, failed.error = FAILED, "The drawn box does not overlap the raster layer scene."

    md = conv.save(str(tmp_path / "chat.md")).read_text(encoding="utf-8")
    assert "## 1. How much forest?" in md and "About 42%." in md
    assert "- forest: 123,456 m² (12.35 ha)" in md and "- retrieved (0.81)" in md
    assert "**Failed:** The drawn box does not overlap" in md

    data = json.loads(conv.save(str(tmp_path / "chat.json")).read_text(encoding="utf-8"))
    assert [t["id"] for t in data["turns"]] == [1, 2]
    assert data["turns"][0]["result"]["provenance"]["class_stats"][0]["area_m2"] == 123456.0
    assert "result_obj" not in data["turns"][0]
    assert conv.get(2) is failed and conv.get(9) is None
