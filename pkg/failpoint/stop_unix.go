//go:build unix

package failpoint

import "syscall"

// pause stops the process until it gets SIGCONT.
var pause = func() { _ = syscall.Kill(syscall.Getpid(), syscall.SIGSTOP) }
