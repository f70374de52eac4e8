"""Read and write point-cloud files: ``.ply`` (binary/ASCII), ``.las``/``.laz``, ``.npy``/``.npz``,
``.txt``/``.xyz``/``.pts``/``.csv``.

Every reader returns the same dict of numpy arrays (only the keys the file has):

    ``coord``    float64 [N, 3]  (kept in float64: survey files carry large offsets)
    ``color``    float32 [N, 3]  in 0..255, the range ``NormalizeColor`` expects
    ``normal``   float32 [N, 3]
    ``segment``  int32 [N]       semantic label (PLY ``label``/``segment``/``class``/``scalar_Label``, LAS ``classification``)
    ``instance`` int32 [N]       instance id

Colour scaling: 16-bit colours (LAS, PLY ``ushort``) are divided by 257; floating-point
colours whose maximum is <= 1 (a common ``.txt``/``.npy`` convention) are multiplied by 255.

Text files hold one point per row: ``x y z``, ``x y z r g b``, ``x y z r g b nx ny nz`` or
``x y z nx ny nz`` is ambiguous with colours and is read as colours (write ``.npz`` with named
arrays to be explicit). Separators: spaces, tabs or commas; lines starting with ``#`` are skipped.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = [
    "SUPPORTED_SUFFIXES",
    "PointCloudFileError",
    "read_point_cloud",
    "read_ply",
    "read_las",
    "read_npy",
    "read_txt",
    "write_ply",
    "write_npz",
    "write_txt",
    "estimate_normals",
]

SUPPORTED_SUFFIXES = (".ply", ".las", ".laz", ".npy", ".npz", ".txt", ".xyz", ".pts", ".csv")

# Field names other tools use for the same attribute (lower case).
_LABEL_FIELDS = ("label", "segment", "class", "semantic", "scalar_label", "classification", "sem_label")
_INSTANCE_FIELDS = ("instance", "instance_id", "scalar_instance", "object_id", "ins_label")
_COLOR_FIELDS = (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue"))
_NORMAL_FIELDS = (("nx", "ny", "nz"), ("normal_x", "normal_y", "normal_z"))


class PointCloudFileError(ValueError):
    """A point-cloud file that cannot be read as such (names the file and what is wrong)."""


def read_point_cloud(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read any supported file by its suffix (see the module docstring for the returned dict)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"point-cloud file {path} does not exist")
    suffix = path.suffix.lower()
    readers = {".ply": read_ply, ".las": read_las, ".laz": read_las, ".npy": read_npy, ".npz": read_npy}
    reader = readers.get(suffix, read_txt if suffix in (".txt", ".xyz", ".pts", ".csv") else None)
    if reader is None:
        raise PointCloudFileError(
            f"{path}: unsupported file type '{suffix}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"
        )
    data = reader(path)
    return _validate(data, path)


def _validate(data: dict, path) -> dict:
    coord = data.get("coord")
    if coord is None or coord.ndim != 2 or coord.shape[1] != 3:
        shape = None if coord is None else coord.shape
        raise PointCloudFileError(f"{path}: expected coordinates of shape [N, 3], got {shape}")
    if coord.shape[0] == 0:
        raise PointCloudFileError(f"{path}: the file holds no points")
    bad = ~np.isfinite(coord).all(axis=1)
    if bad.any():
        raise PointCloudFileError(
            f"{path}: {int(bad.sum())} of {coord.shape[0]} points have NaN/Inf coordinates "
            f"(first at row {int(np.flatnonzero(bad)[0])}); remove them before inference"
        )
    n = coord.shape[0]
    for key, value in data.items():
        if value.shape[0] != n:
            raise PointCloudFileError(f"{path}: '{key}' has {value.shape[0]} rows but there are {n} points")
    return data


def _scale_color(color: np.ndarray, integer_max: int | None = None) -> np.ndarray:
    """Colours to float32 in 0..255 (see the module docstring for the rules)."""
    if integer_max is not None and integer_max > 255:
        return (color.astype(np.float64) / 257.0).astype(np.float32)
    was_float = np.issubdtype(np.asarray(color).dtype, np.floating)
    color = np.asarray(color).astype(np.float32)
    if was_float and color.size and float(color.max()) <= 1.0:
        color = color * 255.0
    return color


# -- PLY ------------------------------------------------------------------------------------------
def _ply_fields(vertex) -> dict[str, str]:
    """lower-case field name → field name as written."""
    return {p.name.lower(): p.name for p in vertex.properties}


def read_ply(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the ``vertex`` element of a binary or ASCII PLY (faces, if any, are ignored)."""
    from plyfile import PlyData

    try:
        ply = PlyData.read(str(path))
    except Exception as e:  # plyfile raises several types for malformed headers/bodies
        raise PointCloudFileError(f"{path}: not a readable PLY file ({type(e).__name__}: {e})") from e
    if "vertex" not in ply:
        raise PointCloudFileError(f"{path}: the PLY has no 'vertex' element (elements: {[e.name for e in ply.elements]})")
    vertex = ply["vertex"]
    fields = _ply_fields(vertex)
    if not all(k in fields for k in ("x", "y", "z")):
        raise PointCloudFileError(f"{path}: the PLY vertex element has no x/y/z fields (fields: {list(fields.values())})")
    v = vertex.data
    out = {"coord": np.stack([v[fields[k]] for k in ("x", "y", "z")], axis=1).astype(np.float64)}
    for names in _COLOR_FIELDS:
        if all(k in fields for k in names):
            raw = np.stack([v[fields[k]] for k in names], axis=1)
            integer_max = 65535 if raw.dtype in (np.uint16, np.int32, np.uint32) and raw.size and raw.max() > 255 else None
            out["color"] = _scale_color(raw, integer_max)
            break
    for names in _NORMAL_FIELDS:
        if all(k in fields for k in names):
            out["normal"] = np.stack([v[fields[k]] for k in names], axis=1).astype(np.float32)
            break
    for key, candidates in (("segment", _LABEL_FIELDS), ("instance", _INSTANCE_FIELDS)):
        for name in candidates:
            if name in fields:
                out[key] = np.asarray(v[fields[name]]).astype(np.int32)
                break
    return out


def write_ply(
    path: str | os.PathLike,
    coord: np.ndarray,
    color: np.ndarray | None = None,
    normal: np.ndarray | None = None,
    label: np.ndarray | None = None,
    instance: np.ndarray | None = None,
    binary: bool = True,
) -> Path:
    """Write a PLY point cloud.

    Args:
        coord: [N, 3] written as float32 ``x y z`` (float64 when any |coordinate| exceeds 1e5,
            where float32 would lose millimetres).
        color: [N, 3] in 0..255 → ``red green blue`` uchar (rounded, clipped).
        normal: [N, 3] → ``nx ny nz`` float32.
        label: [N] → ``label`` int32 (the semantic class; −1 = none).
        instance: [N] → ``instance`` int32.
        binary: binary little-endian (default) or ASCII.
    Returns:
        the written path.
    """
    from plyfile import PlyData, PlyElement

    coord = np.asarray(coord)
    n = coord.shape[0]
    if coord.ndim != 2 or coord.shape[1] != 3:
        raise ValueError(f"write_ply({path}): coord must be [N, 3], got {coord.shape}")
    ctype = "f8" if n and np.abs(coord).max() > 1e5 else "f4"
    fields = [("x", ctype), ("y", ctype), ("z", ctype)]
    columns = [coord[:, 0], coord[:, 1], coord[:, 2]]
    for arr, names, dtype, what in (
        (color, ("red", "green", "blue"), "u1", "color"),
        (normal, ("nx", "ny", "nz"), "f4", "normal"),
    ):
        if arr is None:
            continue
        arr = np.asarray(arr)
        if arr.shape != (n, 3):
            raise ValueError(f"write_ply({path}): {what} must be [{n}, 3], got {arr.shape}")
        if dtype == "u1":
            arr = np.clip(np.rint(arr), 0, 255)
        fields += [(k, dtype) for k in names]
        columns += [arr[:, 0], arr[:, 1], arr[:, 2]]
    for arr, name in ((label, "label"), (instance, "instance")):
        if arr is None:
            continue
        arr = np.asarray(arr).reshape(-1)
        if arr.shape[0] != n:
            raise ValueError(f"write_ply({path}): {name} must have {n} entries, got {arr.shape[0]}")
        fields.append((name, "i4"))
        columns.append(arr)
    vertex = np.empty(n, dtype=fields)
    for (name, dtype), col in zip(fields, columns):
        vertex[name] = col.astype(dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    PlyData([PlyElement.describe(vertex, "vertex")], text=not binary).write(str(path))
    return path


# -- LAS / LAZ ------------------------------------------------------------------------------------
def _import_laspy():
    try:
        import laspy
    except ImportError as e:
        raise ImportError(
            "reading .las/.laz files needs laspy (and lazrs for .laz): pip install 'pointlab[las]'"
        ) from e
    return laspy


def read_las(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a LAS/LAZ file with laspy: scaled coordinates, 16-bit RGB (if the point format has it),
    ``classification`` as ``segment`` only when any point is classified (non-zero)."""
    laspy = _import_laspy()
    try:
        las = laspy.read(str(path))
    except Exception as e:
        hint = " (.laz needs a LAZ backend: pip install 'pointlab[las]')" if str(path).lower().endswith(".laz") else ""
        raise PointCloudFileError(f"{path}: cannot read LAS/LAZ ({type(e).__name__}: {e}){hint}") from e
    out = {"coord": np.stack([np.asarray(las.x), np.asarray(las.y), np.asarray(las.z)], axis=1).astype(np.float64)}
    dims = set(las.point_format.dimension_names)
    if {"red", "green", "blue"} <= dims:
        rgb = np.stack([np.asarray(las.red), np.asarray(las.green), np.asarray(las.blue)], axis=1)
        if rgb.size and rgb.max() > 0:  # formats with RGB but all zero: no colour was recorded
            out["color"] = _scale_color(rgb, 65535 if rgb.max() > 255 else None)
    if "classification" in dims:
        cls = np.asarray(las.classification).astype(np.int32)
        if cls.size and cls.any():
            out["segment"] = cls
    return out


# -- numpy ----------------------------------------------------------------------------------------
def read_npy(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """``.npy``: an [N, 3/6/9] array read like a text file's columns. ``.npz``: named arrays
    (``coord``, optional ``color``, ``normal``, ``segment``, ``instance``)."""
    path = Path(path)
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as e:
        raise PointCloudFileError(f"{path}: not a readable numpy file ({type(e).__name__}: {e})") from e
    if path.suffix.lower() == ".npz":
        with loaded:
            arrays = {k: loaded[k] for k in loaded.files}
        if "coord" not in arrays:
            raise PointCloudFileError(f"{path}: the .npz has no 'coord' array (arrays: {sorted(arrays)})")
        out = {"coord": arrays["coord"].astype(np.float64)}
        if "color" in arrays:
            out["color"] = _scale_color(arrays["color"])
        if "normal" in arrays:
            out["normal"] = arrays["normal"].astype(np.float32)
        for key in ("segment", "instance"):
            if key in arrays:
                out[key] = arrays[key].reshape(-1).astype(np.int32)
        return out
    return _from_columns(np.asarray(loaded), path)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write named arrays (``coord``, ``color``, ``normal``, ``segment``, ``instance`` …) to ``.npz``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k: np.asarray(v) for k, v in arrays.items() if v is not None})
    return path


# -- text -----------------------------------------------------------------------------------------
def _from_columns(table: np.ndarray, path) -> dict[str, np.ndarray]:
    if table.ndim != 2 or table.shape[1] not in (3, 4, 6, 7, 9, 10):
        raise PointCloudFileError(
            f"{path}: expected rows of x y z [r g b] [nx ny nz] (3, 6 or 9 columns; a 4th/7th/10th column is "
            f"read as a label), got an array of shape {table.shape}"
        )
    c = table.shape[1]
    out = {"coord": table[:, :3].astype(np.float64)}
    if c >= 6:
        out["color"] = _scale_color(table[:, 3:6])
    if c >= 9:
        out["normal"] = table[:, 6:9].astype(np.float32)
    if c in (4, 7, 10):
        out["segment"] = table[:, -1].astype(np.int32)
    return out


def read_txt(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read whitespace- or comma-separated rows ``x y z [r g b] [nx ny nz] [label]``."""
    with open(path) as f:
        sample = f.read(4096)
    delimiter = "," if "," in sample else None
    try:
        table = np.loadtxt(path, delimiter=delimiter, comments="#", ndmin=2, dtype=np.float64)
    except ValueError as e:
        raise PointCloudFileError(
            f"{path}: cannot parse as numeric columns x y z [r g b] [nx ny nz] ({e}); remove header lines "
            f"or start them with '#'"
        ) from e
    return _from_columns(table, path)


def write_txt(path: str | os.PathLike, coord, color=None, normal=None, label=None) -> Path:
    """Write rows ``x y z [r g b] [nx ny nz] [label]`` separated by spaces."""
    cols = [np.asarray(coord, np.float64)]
    fmt = ["%.6f"] * 3
    if color is not None:
        cols.append(np.asarray(color, np.float64))
        fmt += ["%.0f"] * 3
    if normal is not None:
        if color is None:
            raise ValueError(f"write_txt({path}): normals without colours cannot be told apart from colours; "
                             f"write .npz instead")
        cols.append(np.asarray(normal, np.float64))
        fmt += ["%.6f"] * 3
    if label is not None:
        cols.append(np.asarray(label, np.float64).reshape(-1, 1))
        fmt += ["%d"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.concatenate(cols, axis=1), fmt=fmt)
    return path


# -- derived attributes ---------------------------------------------------------------------------
def estimate_normals(coord: np.ndarray, k: int = 16, viewpoint=None, chunk: int = 100_000) -> np.ndarray:
    """Unit normals float32 [N, 3] by PCA over each point's ``k`` nearest neighbours (scipy cKDTree).

    The normal is the eigenvector of the smallest eigenvalue of the neighbourhood covariance,
    flipped to point towards ``viewpoint`` (default: the centre of the bounding box). For a
    scanned room that makes floors point up and walls point into the room, as scanner normals do.
    Points are processed in blocks of ``chunk`` so memory stays at ``chunk · k`` neighbours.
    """
    from scipy.spatial import cKDTree

    pts = np.asarray(coord, dtype=np.float64)
    n = pts.shape[0]
    out = np.zeros((n, 3), dtype=np.float32)
    if n < 3:
        out[:, 2] = 1.0
        return out
    k = int(min(max(k, 3), n))
    center = (pts.min(0) + pts.max(0)) / 2.0 if viewpoint is None else np.asarray(viewpoint, np.float64)
    tree = cKDTree(pts)
    for s in range(0, n, chunk):
        block = pts[s:s + chunk]
        _, nn = tree.query(block, k=k)
        nb = pts[nn]
        nb -= nb.mean(axis=1, keepdims=True)
        cov = np.einsum("cki,ckj->cij", nb, nb)
        _, vec = np.linalg.eigh(cov)  # eigenvalues ascending: column 0 is the normal
        normal = vec[:, :, 0]
        flip = np.einsum("ci,ci->c", normal, center - block) < 0
        normal[flip] *= -1.0
        out[s:s + chunk] = normal
    return out
