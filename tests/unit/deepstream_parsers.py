"""Builds the nvinfer box parsers on x86 for the parser tests, without DeepStream.

The parsers are built by their own Makefile (hardware/deepstream/parsers) against a minimal
stand-in for DeepStream's `nvdsinfer_custom_impl.h` (the same struct layout for the fields the
parsers use), then a small driver program is linked against the built library.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PARSERS_DIR = Path(__file__).resolve().parents[2] / "hardware" / "deepstream" / "parsers"

STUB_HEADER = r"""
#pragma once
#include <vector>
typedef enum { FLOAT = 0, HALF = 1, INT8 = 2, INT32 = 3 } NvDsInferDataType;
typedef struct { unsigned int numDims; unsigned int d[8]; unsigned int numElements; } NvDsInferDims;
typedef struct { NvDsInferDataType dataType; NvDsInferDims inferDims; int bindingIndex; const char* layerName;
                 void* buffer; int isInput; } NvDsInferLayerInfo;
typedef struct { unsigned int width; unsigned int height; unsigned int channels; } NvDsInferNetworkInfo;
typedef struct { unsigned int numClassesConfigured; std::vector<float> perClassPreclusterThreshold;
                 std::vector<float> perClassPostclusterThreshold; } NvDsInferParseDetectionParams;
typedef struct { unsigned int classId; float left; float top; float width; float height;
                 float detectionConfidence; } NvDsInferObjectDetectionInfo;
#define CHECK_CUSTOM_PARSE_FUNC_PROTOTYPE(func) static_assert(sizeof(&func) > 0, #func)
"""


def build_parser_library(library: str, build: Path) -> Path:
    """`make` the named parser library into `build`, with the stand-in header as DeepStream's."""
    if shutil.which("g++") is None or shutil.which("make") is None:
        pytest.fail("g++ and make are needed to build the DeepStream parser check (apt-get install g++ make)")
    includes = build / "ds" / "sources" / "includes"
    includes.mkdir(parents=True, exist_ok=True)
    (includes / "nvdsinfer_custom_impl.h").write_text(STUB_HEADER)
    result = subprocess.run(["make", "-C", str(PARSERS_DIR), f"DS_ROOT={build / 'ds'}", f"BUILD_DIR={build}",
                             str(build / library)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr, result.stderr  # the Makefile builds with -Wall -Wextra
    return build / library


def link_driver(driver_source: str, library: Path, build: Path, name: str) -> Path:
    """Compile a test driver calling the parser and link it against `library`."""
    source = build / f"{name}.cpp"
    source.write_text(driver_source)
    binary = build / name
    result = subprocess.run(["g++", "-std=c++14", "-O1", "-Wall", "-Werror", "-I", str(build / "ds" / "sources" / "includes"),
                             str(source), str(library), f"-Wl,-rpath,{library.parent}", "-o", str(binary)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return binary
