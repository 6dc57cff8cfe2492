package e2e

import "syscall"

// sysProcAttr makes the kernel kill a started process when the test
// binary dies (a panic, a -timeout), so no proxy outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
