/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The libFuzzer entry point every target in this directory implements. The
 * same file is linked either with libFuzzer (clang, -Dfuzzing=true) or with
 * replay-main.c, which feeds it the files of a corpus.
 */

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
