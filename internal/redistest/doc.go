// Package redistest runs a real redis-server for a test: on a free
// 127.0.0.1 port, in the test's temporary directory, stopped at cleanup,
// with helpers to kill, restart and pause it.
package redistest
