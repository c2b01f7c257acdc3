"""moto in server mode (KMS and Secrets Manager for the local mode) on 127.0.0.1.

A thin wrapper around moto's own server entry point, so that the process's command line names
the local mode's data folder (the e2e tests check that no such process outlives a run).
"""

from __future__ import annotations

import argparse

from moto.server import main as moto_main


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server for the filegate local mode")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True, help="the local mode's data folder (a marker only)")
    args = parser.parse_args()
    moto_main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
