/*
 * SPDX-FileCopyrightText: © 2017-2025 Istari Digital, Inc.
 * SPDX-License-Identifier: Apache-2.0
 */

//go:build !linux

package table

import "os"

// pbxgate: dropPages and pageSize are not upstream (PATCHES.md); elsewhere
// than on Linux the pages stay resident, as upstream.

var pageSize = os.Getpagesize()

func dropPages([]byte) {}
