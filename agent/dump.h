/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>

#include "emit.h"

/* Prints a cycle as one JSON object: nodes, edges, states, samples;
 * indented, or on one line (JSON lines, one object per cycle). */
int fl_dump_json(const struct fl_emit *e, FILE *out, bool one_line);
