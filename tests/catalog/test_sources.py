"""Catalogue sources: folders, CSV/TSV and JSONL files, single images, and bad catalogues."""

from __future__ import annotations

import doctest
import json
import logging
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import productstudio.catalog.sources as sources
from productstudio.catalog.sources import (
    IMAGE_EXTENSIONS,
    CatalogItem,
    Missing,
    list_items,
    read_folder,
    read_table,
)
from productstudio.errors import InputError, InvalidParamsError


def touch(root: Path, *rels: str) -> None:
    for rel in rels:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"\xff\xd8")  # listing never decodes; any bytes will do


def keys(items: list[CatalogItem]) -> list[str]:
    return [i.key for i in items]


def test_doctests() -> None:
    """The docstring examples run and hold."""
    result = doctest.testmod(sources)
    assert result.attempted > 0
    assert result.failed == 0


# --- folders ---------------------------------------------------------------------------------


def test_folder_recursive_sorted_all_extensions(tmp_path: Path) -> None:
    """Every image extension is found recursively, sorted by relative path, keys lose the suffix."""
    touch(
        tmp_path,
        "b.webp",
        "a.HEIC",
        "sub/c.avif",
        "sub/deeper/d.tif",
        "sub/e.TIFF",
        "f.jpeg",
        "g.png",
        "archive.tar.jpg",
    )
    items = read_folder(tmp_path)
    assert keys(items) == [
        "a",
        "archive.tar",
        "b",
        "f",
        "g",
        "sub/c",
        "sub/deeper/d",
        "sub/e",
    ]
    assert items[0].path == tmp_path / "a.HEIC"
    assert all(i.attrs == {} and i.origin == str(tmp_path) for i in items)
    assert list_items(tmp_path) == items


def test_folder_skips_hidden_and_non_images(tmp_path: Path) -> None:
    """Hidden files and folders, AppleDouble files and non-images are not listed."""
    touch(
        tmp_path,
        "keep.jpg",
        ".hidden.jpg",
        "._keep.jpg",
        ".thumbs/x.jpg",
        "sub/.git/y.png",
        "notes.txt",
        "data.csv",
        "noext",
    )
    assert keys(read_folder(tmp_path)) == ["keep"]


def test_folder_exclude_output_dir(tmp_path: Path) -> None:
    """An excluded folder (the output inside the input) is not listed."""
    touch(tmp_path, "a.jpg", "out/a.jpg", "out/deep/b.png")
    assert keys(read_folder(tmp_path, exclude=[tmp_path / "out"])) == ["a"]
    assert keys(list_items(tmp_path, exclude=[str(tmp_path / "out")])) == ["a"]
    assert keys(list_items(tmp_path)) == ["a", "out/a", "out/deep/b"]


def test_folder_case_collision_raises(tmp_path: Path) -> None:
    """Two files that would write the same output (case-insensitive) raise, naming both."""
    touch(tmp_path, "Shoe.jpg", "shoe.jpg")
    if len(list(tmp_path.iterdir())) < 2:
        pytest.skip("case-insensitive file system")
    with pytest.raises(InputError, match=r"Shoe\.jpg.*shoe\.jpg.*rename"):
        read_folder(tmp_path)


def test_folder_same_stem_different_extension_is_listed(tmp_path: Path) -> None:
    """a.jpg and a.png share the key 'a'; the batch planner tells them apart by extension."""
    touch(tmp_path, "a.jpg", "a.png")
    items = read_folder(tmp_path)
    assert keys(items) == ["a", "a"]
    assert [i.path.suffix for i in items] == [".jpg", ".png"]


def test_folder_skips_dangling_symlink(tmp_path: Path) -> None:
    """A symlink to a missing file is not an input."""
    touch(tmp_path, "a.jpg")
    os.symlink(tmp_path / "gone.jpg", tmp_path / "b.jpg")
    assert keys(read_folder(tmp_path)) == ["a"]


def test_empty_folder_raises(tmp_path: Path) -> None:
    """A folder with no image gives InputError naming the folder and the fix."""
    touch(tmp_path, "readme.txt")
    with pytest.raises(InputError, match="No images found") as info:
        list_items(tmp_path)
    assert str(tmp_path) in str(info.value)
    assert info.value.path == str(tmp_path)


def test_single_image_and_missing_or_unknown_source(tmp_path: Path) -> None:
    """One image lists itself; a missing path or an unsupported file raises InputError."""
    touch(tmp_path, "one.png", "doc.pdf")
    assert list_items(tmp_path / "one.png") == [
        CatalogItem(tmp_path / "one.png", "one", {}, str(tmp_path / "one.png"))
    ]
    with pytest.raises(InputError, match="does not exist"):
        list_items(tmp_path / "nope")
    with pytest.raises(InputError, match=r"doc\.pdf.*expected a folder"):
        list_items(tmp_path / "doc.pdf")
    with pytest.raises(InputError, match="not a folder"):
        read_folder(tmp_path / "one.png")


# --- CSV -------------------------------------------------------------------------------------


def test_csv_relative_paths_and_attributes(tmp_path: Path) -> None:
    """Paths are relative to the CSV's folder; other columns become attributes, in row order."""
    touch(tmp_path, "img/z.jpg", "img/a.png")
    cat = tmp_path / "cat.csv"
    cat.write_text('path,title,colour\nimg/z.jpg,"Red shoe, size 42",red\nimg/a.png,Cup,\n')
    items = list_items(cat)
    assert items == [
        CatalogItem(
            tmp_path / "img/z.jpg",
            "img/z",
            {"title": "Red shoe, size 42", "colour": "red"},
            f"{cat}:2",
        ),
        CatalogItem(tmp_path / "img/a.png", "img/a", {"title": "Cup", "colour": ""}, f"{cat}:3"),
    ]


@pytest.mark.parametrize("column", ["path", "file", "image", "File", " IMAGE "])
def test_csv_path_column_names(tmp_path: Path, column: str) -> None:
    """path, file or image (any case, padded) name the image column."""
    touch(tmp_path, "a.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text(f"{column},Brand\na.jpg,Acme\n")
    (item,) = read_table(cat)
    assert item.path == tmp_path / "a.jpg"
    assert item.attrs == {"Brand": "Acme"}  # attribute names keep their case


def test_csv_path_column_preference(tmp_path: Path) -> None:
    """With several candidate columns, 'path' wins over 'file' and 'image'."""
    touch(tmp_path, "p.jpg", "f.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text("image,file,path\nx.jpg,f.jpg,p.jpg\n")
    (item,) = read_table(cat)
    assert item.key == "p"
    assert item.attrs == {"image": "x.jpg", "file": "f.jpg"}


@pytest.mark.parametrize(("sep", "suffix"), [(";", ".csv"), ("\t", ".tsv"), ("|", ".csv")])
def test_csv_separators_bom_and_crlf(tmp_path: Path, sep: str, suffix: str) -> None:
    """Semicolon (European Excel), tab and pipe files with a BOM and CRLF line ends are read."""
    touch(tmp_path, "a.jpg", "b.jpg")
    cat = tmp_path / f"c{suffix}"
    text = f"path{sep}price\r\na.jpg{sep}9,99\r\n\r\nb.jpg{sep}5\r\n"
    cat.write_bytes(b"\xef\xbb\xbf" + text.encode())
    items = read_table(cat)
    assert keys(items) == ["a", "b"]
    assert items[0].attrs == {"price": "9,99"}
    assert items[1].origin.endswith(":4")  # the blank line still counts


def test_csv_key_column_names_outputs(tmp_path: Path) -> None:
    """A 'key' column names outputs, so one photo can appear twice (e.g. two colours)."""
    touch(tmp_path, "shoe.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text("path,key,colour\nshoe.jpg,shoe-red,red\nshoe.jpg,variants/shoe-blue,blue\n")
    items = read_table(cat)
    assert keys(items) == ["shoe-red", "variants/shoe-blue"]
    assert items[0].attrs == {"colour": "red"}


@pytest.mark.parametrize("bad", ["../escape", "/abs", "a/../../b", "", " ", ".", "c:/x", "..\\up"])
def test_csv_unsafe_key_rejected(tmp_path: Path, bad: str) -> None:
    """Keys that could write outside the output folder are rejected with the line number."""
    touch(tmp_path, "a.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text(f'path,key\na.jpg,"{bad}"\n')
    with pytest.raises(InputError, match=r"c\.csv:2: key"):
        read_table(cat)


def test_csv_duplicate_key_and_duplicate_path(tmp_path: Path) -> None:
    """Repeated keys, or the same file twice without keys, name both lines."""
    touch(tmp_path, "a.jpg", "b.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text("path,key\na.jpg,x\nb.jpg,X\n")
    with pytest.raises(InputError, match=r"c\.csv:3: key 'X' is already used on line 2"):
        read_table(cat)
    cat.write_text("path\na.jpg\n./a.jpg\n")
    with pytest.raises(InputError, match=r"c\.csv:3: .*already listed on line 2.*'key' column"):
        read_table(cat)


def test_csv_paths_outside_folder_get_safe_keys(tmp_path: Path) -> None:
    """'..' and absolute paths never produce keys that climb out of the output folder."""
    touch(tmp_path, "raw/a.jpg", "other/deep/b.png")
    cat_dir = tmp_path / "cats"
    cat_dir.mkdir()
    cat = cat_dir / "c.csv"
    cat.write_text(f"path\n../raw/a.jpg\n{tmp_path / 'other/deep/b.png'}\n")
    items = read_table(cat)
    assert items[0].key == "raw/a"
    assert items[1].key == "other/deep/b"
    for item in items:
        assert ".." not in item.key.split("/") and not item.key.startswith("/")
        assert item.path.exists()


def test_csv_missing_file_policies(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A missing image raises (naming file:line), or is skipped with a warning, or kept."""
    touch(tmp_path, "a.jpg")
    cat = tmp_path / "c.csv"
    cat.write_text("path\na.jpg\ngone.jpg\n")
    with pytest.raises(InputError, match=r"c\.csv:3: image 'gone\.jpg' not found.*remove the row"):
        read_table(cat)
    with caplog.at_level(logging.WARNING, logger="productstudio.catalog.sources"):
        assert keys(read_table(cat, missing=Missing.SKIP)) == ["a"]
    assert "gone.jpg" in caplog.text
    kept = list_items(cat, missing="keep")
    assert keys(kept) == ["a", "gone"]
    assert not kept[1].path.exists()
    with pytest.raises(InvalidParamsError, match="missing must be one of"):
        list_items(cat, missing="ignore")


def test_csv_all_missing_with_skip_raises(tmp_path: Path) -> None:
    """If every row is skipped the catalogue is empty: InputError, not an empty run."""
    cat = tmp_path / "c.csv"
    cat.write_text("path\ngone.jpg\n")
    with pytest.raises(InputError, match="lists no images that exist"):
        read_table(cat, missing="skip")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", "is empty"),
        (b"title,colour\nshoe,red\n", r"c\.csv:1: no image column.*path, file, image"),
        (b"path,a,a\nx.jpg,1,2\n", "column names repeat"),
        (b"path,title\na.jpg,x,extra,more\n", r"c\.csv:2: 4 fields but the header has 2"),
        (b'path\n   \n""\n', "lists no images"),
        (b'path,t\n"",x\n', r"c\.csv:2: the 'path' value is empty"),
        (b"path\nhttps://example.com/a.jpg\n", r"c\.csv:2: .*URL"),
        (b"path\n\xff\xfeb\x00a\x00d\x00\n", "not UTF-8"),
        (b"path\nsub\n", r"c\.csv:2: 'sub' is a folder"),
    ],
)
def test_bad_csv(tmp_path: Path, content: bytes, match: str) -> None:
    """Malformed catalogues raise InputError naming the file, line and fix."""
    touch(tmp_path, "a.jpg", "x.jpg")
    (tmp_path / "sub").mkdir()
    cat = tmp_path / "c.csv"
    cat.write_bytes(content)
    with pytest.raises(InputError, match=match) as info:
        list_items(cat)
    assert info.value.path == str(cat)


# --- JSONL -----------------------------------------------------------------------------------


def test_jsonl_rows_and_attribute_strings(tmp_path: Path) -> None:
    """JSONL objects list images; non-string values become JSON text, null becomes ''."""
    touch(tmp_path, "p/a.jpg", "b.webp")
    cat = tmp_path / "c.jsonl"
    rows = [
        {"image": "p/a.jpg", "title": "Mug", "price": 9.5, "tags": ["a", "b"], "sale": None},
        {"File": "b.webp", "title": "Déjà vu", "in_stock": True},
    ]
    cat.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n")
    items = list_items(cat)
    assert keys(items) == ["p/a", "b"]
    assert items[0].attrs == {"title": "Mug", "price": "9.5", "tags": '["a", "b"]', "sale": ""}
    assert items[1].attrs == {"title": "Déjà vu", "in_stock": "true"}
    assert items[1].origin == f"{cat}:2"
    assert (tmp_path / "c.ndjson").write_text(cat.read_text()) and keys(
        list_items(tmp_path / "c.ndjson")
    ) == ["p/a", "b"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ('{"path": "a.jpg"}\n{"path": "a.jpg",\n', r"c\.jsonl:2: not valid JSON"),
        ('["a.jpg"]\n', r"c\.jsonl:1: expected a JSON object, got list"),
        ('{"path": 12}\n', r"c\.jsonl:1: 'path' must be a string path, got int"),
        ('{"title": "x"}\n', r"c\.jsonl:1: no image column"),
        ('{"path": "nope.jpg"}\n', r"c\.jsonl:1: image 'nope\.jpg' not found"),
        ("\n\n", "lists no images"),
    ],
)
def test_bad_jsonl(tmp_path: Path, content: str, match: str) -> None:
    """Malformed JSONL lines raise InputError naming the line."""
    touch(tmp_path, "a.jpg")
    cat = tmp_path / "c.jsonl"
    cat.write_text(content)
    with pytest.raises(InputError, match=match):
        list_items(cat)


# --- properties ------------------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd"), whitelist_characters="-_ "),
    min_size=1,
    max_size=8,
).filter(lambda s: s.strip() == s and not s.startswith("."))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(names, max_size=2), names, st.sampled_from(sorted(IMAGE_EXTENSIONS))),
        min_size=1,
        max_size=6,
        unique_by=lambda t: "/".join([*t[0], t[1]]).lower(),
    )
)
def test_folder_keys_roundtrip(tmp_path_factory: pytest.TempPathFactory, files: list) -> None:
    """For any tree, every file is listed once, sorted, and root/key + suffix is its path."""
    root = tmp_path_factory.mktemp("tree")
    rels = ["/".join([*dirs, stem]) + ext for dirs, stem, ext in files]
    touch(root, *rels)
    items = read_folder(root)
    assert sorted(i.path.relative_to(root).as_posix() for i in items) == sorted(rels)
    rel_list = [i.path.relative_to(root).as_posix() for i in items]
    assert rel_list == sorted(rel_list)
    for item in items:
        assert (root / (item.key + item.path.suffix)) == item.path
        assert ".." not in item.key.split("/")


def test_dataclass_is_frozen_and_hashable(tmp_path: Path) -> None:
    """CatalogItem is immutable and hashable (attrs do not take part in the hash)."""
    item = CatalogItem(tmp_path / "a.jpg", "a", {"x": "1"})
    with pytest.raises(AttributeError):
        item.key = "b"  # type: ignore[misc]
    assert hash(item) == hash(CatalogItem(tmp_path / "a.jpg", "a", {"x": "2"}))
    assert item != CatalogItem(tmp_path / "a.jpg", "a", {"x": "2"})
