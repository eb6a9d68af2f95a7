package bench

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// startPerf samples process pid with `perf record -e cpu-clock -g` (the
// software clock: this virtual machine has no hardware counters) into
// dir/name.perf.data, and returns the function that stops it. Go binaries
// keep frame pointers, so the call graphs need no DWARF unwinding; read
// them with `perf report -i FILE --no-children`.
func startPerf(tb testing.TB, dir, name string, pid int, out io.Writer) (stop func()) {
	tb.Helper()
	perf, err := exec.LookPath("perf")
	if err != nil {
		tb.Fatalf("bench: BENCH_PERF_DIR set but perf not found: %v", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	file := filepath.Join(dir, name+".perf.data")
	cmd := exec.Command(perf, "record", "-e", "cpu-clock", "-F", "999", "-g", "-p", fmt.Sprint(pid), "-o", file)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		tb.Fatalf("bench: perf record: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // let it attach
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		fmt.Fprintf(out, "  perf profile of the agent: %s\n", file)
	}
}
