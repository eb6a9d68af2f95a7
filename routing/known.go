package routing

import (
	"strconv"

	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/wire"
)

// known is what the traffic counters count by name: the applications and
// commands of the dictionary, of the routing table and of the local
// applications. Everything else is counted as Other, so that a peer
// sending made-up application ids or command codes cannot grow the
// counters (or the metrics series) without bound.
type known struct {
	apps, commands map[uint32]struct{}
}

// dictApps and dictCommands are the applications and commands of
// go-diameter's dictionary (base, accounting, credit control, NASREQ, Gx,
// Rx, S6a, S13, SWx).
// Added to them: Diameter EAP (RFC 4072), Cx/Dx and Sh (3GPP TS 29.229,
// 29.329), which the metrics name as well.
var dictApps, dictCommands = func() (apps, cmds []uint32) {
	apps = []uint32{5, 16777216, 16777217}
	cmds = []uint32{268, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309}
	for _, a := range dict.Default.Apps() {
		apps = append(apps, a.ID)
		for _, c := range a.Command {
			cmds = append(cmds, c.Code)
		}
	}
	return apps, cmds
}()

// newKnown builds the known set of a generation.
func newKnown(table *realm.Table, local map[uint32]Handler) *known {
	k := &known{apps: map[uint32]struct{}{}, commands: map[uint32]struct{}{}}
	for _, a := range dictApps {
		k.apps[a] = struct{}{}
	}
	for _, c := range dictCommands {
		k.commands[c] = struct{}{}
	}
	if table != nil {
		for _, r := range table.Routes() {
			if !r.AnyApp {
				k.apps[r.AppID] = struct{}{}
			}
			for _, c := range r.Commands {
				k.commands[c] = struct{}{}
			}
		}
	}
	for a := range local {
		k.apps[a] = struct{}{}
	}
	delete(k.apps, Other) // the Relay id, never a message's application
	delete(k.commands, Other)
	return k
}

func (k *known) app(a uint32) uint32 {
	if _, ok := k.apps[a]; ok {
		return a
	}
	return Other
}

func (k *known) command(c uint32) uint32 {
	if _, ok := k.commands[c]; ok {
		return c
	}
	return Other
}

// knownResults are the Result-Codes of RFC 6733 §7.1, RFC 4006 §9 and
// RFC 7075; 0 stands for an answer without one (an Experimental-Result).
var knownResults = func() map[uint32]struct{} {
	m := map[uint32]struct{}{0: {}, 1001: {}, wire.ResultSuccess: {}, wire.ResultLimitedSuccess: {},
		4010: {}, 4011: {}, 4012: {}, 5030: {}, 5031: {}}
	for c := uint32(3001); c <= 3011; c++ {
		m[c] = struct{}{}
	}
	for c := uint32(4001); c <= 4003; c++ {
		m[c] = struct{}{}
	}
	for c := uint32(5001); c <= 5017; c++ {
		m[c] = struct{}{}
	}
	return m
}()

// knownResult is code, or its class as OtherResult+class when the agent
// does not know it.
func knownResult(code uint32) uint32 {
	if _, ok := knownResults[code]; ok {
		return code
	}
	if c := code / 1000; c >= 1 && c <= 5 {
		return OtherResult + c
	}
	return OtherResult
}

// AppLabel names an application id of the traffic counters: its decimal
// id, or "other".
func AppLabel(app uint32) string {
	if app == Other {
		return "other"
	}
	return strconv.FormatUint(uint64(app), 10)
}

// ResultLabel names a Result-Code of the traffic counters: its decimal
// value, "2xxx" (and so on) for the unknown codes of a class, or "other".
func ResultLabel(code uint32) string {
	switch {
	case code == OtherResult:
		return "other"
	case code > OtherResult && code <= OtherResult+5:
		return strconv.Itoa(int(code-OtherResult)) + "xxx"
	}
	return strconv.FormatUint(uint64(code), 10)
}
