package demo

import "syscall"

// sysProcAttr puts a child in its own process group, and has the kernel
// kill it should the demo itself die without stopping it (kill -9).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
