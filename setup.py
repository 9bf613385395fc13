"""Packaging for PureHealth Pipelines.

Pins: the Dagster family moves together (dagster 1.13.27 / dagster-postgres 0.29.27); unpinned, pip backtracks
to a 2021 dagster-postgres with a psycopg2 that cannot import (shared/reference/stack_notes.md). The other
pins are the versions this project is tested with on Python 3.11.
"""

from setuptools import find_packages, setup

setup(
    name="purehealth_pipelines",
    version="0.1.0",
    description="Water-quality data platform for Maharashtra: Dagster + TimescaleDB + MQTT",
    packages=find_packages(exclude=["purehealth_pipelines_tests*", "bench*"]),
    package_data={
        "purehealth_pipelines": [
            "warehouse/migrations/*.sql",
            "**/*.csv",
            "**/*.yaml",
            "api/static/*",
            "api/static/vendor/*",  # built at setup time by scripts/build_dashboard_assets.py
        ]
    },
    include_package_data=True,
    python_requires=">=3.11",
    install_requires=[
        "dagster==1.13.27",
        "dagster-webserver==1.13.27",
        "dagster-postgres==0.29.27",
        "psycopg2-binary>=2.9.10",
        "pandas==3.1.1",
        "numpy==2.4.6",
        "sqlalchemy==2.1.9",
        "psycopg[binary]==3.3.9",
        "paho-mqtt==2.2.0",
        "earthengine-api==1.7.50",
        "lightgbm==4.7.0",
        "great-expectations==1.24.1",
        "websockets==17.4",
        "ioos-qc==3.0.0",
        "httpx==0.28.1",
        "tqdm==4.70.1",
        "pyyaml>=6.0",
        "orjson==3.13.0",
        # read API and dashboard (issue 14)
        "fastapi==0.163.2",
        "uvicorn==0.55.0",
        "psycopg-pool==3.3.3",
        # dashboard assets, read at setup time (scripts/build_dashboard_assets.py): district boundaries
        "flatgeobuf==0.3.1",
        "flatbuffers==24.12.23",
        # the WQI trend and the annual report (issue 13); its map reads the district layer bundled above
        "pymannkendall==1.4.3",
        "matplotlib==3.11.2",
        "reportlab==5.1.0",
        "openpyxl==3.1.5",
    ],
    extras_require={
        "dev": [
            "pytest==9.2.0",
            "ruff==0.17.6",
            "pytest-timeout==2.4.0",
            "playwright==1.65.2",  # drives Debian's chromium (executable_path); no `playwright install`
            "jsonschema>=4.23",  # API responses checked against the app's own OpenAPI schema
            "aiosmtpd==1.4.6",  # alert delivery tests: a real SMTP server in the test process
            "pypdf==7.1.0",  # the annual report's PDF read back in its test
        ]
    },
    entry_points={"console_scripts": ["purehealth = purehealth_pipelines.cli:main"]},
)
