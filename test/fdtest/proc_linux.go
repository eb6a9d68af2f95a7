package fdtest

import "syscall"

// sysProcAttr puts the daemon in its own process group and has the kernel
// kill it if the test process dies without running its cleanups.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
