package bench

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/dra-project/dra/loadgen"
)

// TestLoadHarnessSmoke keeps the benchmark harness working: each of the
// three configurations (direct, through the dra binary, through
// freeDiameter) runs once for a second at 10 in flight, and every request
// must be answered with 2001 and cost the relay some CPU.
func TestLoadHarnessSmoke(t *testing.T) {
	e := StartEnv(t, io.Discard)
	v := Variant{Name: "smoke", Conns: 2, InFlight: 10, Mix: loadgen.MixConfig{Name: loadgen.MixGeneric, Size: 200}}
	for _, name := range Configs {
		m := e.Run(t, e.Target(name), v, time.Second)
		t.Logf("%-12s %s", name, m.line())
		if len(m.Problems) > 0 {
			t.Errorf("%s: %v", name, m.Problems)
		}
		if m.Result.Sent < 100 {
			t.Errorf("%s: only %d requests in a second", name, m.Result.Sent)
		}
		if name != Direct && m.RelayCPU <= 0 {
			t.Errorf("%s: relay CPU not measured (%v)", name, m.RelayCPU)
		}
	}
	// freeDiameter must run at its default log level: at -dd it logs a
	// line per message, and its CPU figures would measure the logging.
	if log := e.fd.Log(); strings.Contains(log, "RCV from") || strings.Contains(log, "SENT to") {
		t.Errorf("freeDiameter logs every message (debug level): its CPU figures would be wrong")
	}
}
