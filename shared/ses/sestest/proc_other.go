//go:build !linux

package sestest

import "syscall"

// dieWithParent is nil where there is no parent-death signal: StopShared,
// from TestMain, stops the emulator.
func dieWithParent() *syscall.SysProcAttr { return nil }
