/* SPDX-License-Identifier: MIT */
/* Queries for the CLI: part of the store module, the only libpq user. */
#include "store.h"
