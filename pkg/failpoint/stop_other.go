//go:build !unix

package failpoint

// pause cannot stop the process where there is no SIGSTOP: it kills it.
var pause = func() { kill() }
