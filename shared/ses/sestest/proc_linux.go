package sestest

import "syscall"

// dieWithParent has the kernel kill the emulator when the test binary ends,
// however it ends.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
