package routing

import (
	"sync/atomic"

	"github.com/dra-project/dra/wire"
)

// Stats are the router's counters; every field is safe to read at any time.
type Stats struct {
	Requests       atomic.Uint64 // requests received
	Forwarded      atomic.Uint64 // forwarding attempts (first sends and resends)
	Answered       atomic.Uint64 // answers relayed back to the requester
	LocalAnswers   atomic.Uint64 // answers the agent produced itself
	UnknownAnswers atomic.Uint64 // answers matching no pending request, discarded
	AnswersDropped atomic.Uint64 // answers whose requester connection was gone
	Failovers      atomic.Uint64 // requests taken off a failed, slow or busy peer
	Retransmits    atomic.Uint64 // requests resent with the T flag
	Timeouts       atomic.Uint64 // requests whose Tx expired
	Busy           atomic.Uint64 // 3004 answers that triggered a resend
	Redirects      atomic.Uint64 // redirects followed
	Loops          atomic.Uint64 // 3005 answers
	Malformed      atomic.Uint64 // 3008/5014 answers
	Panics         atomic.Uint64
	Originated     atomic.Uint64 // requests originated by local applications
	// ByResult counts the answers the agent produced by Result-Code.
	byResult [16]atomic.Uint64
}

var resultIndex = [...]uint32{
	wire.ResultUnableToDeliver, wire.ResultRealmNotServed, wire.ResultTooBusy, wire.ResultLoopDetected,
	wire.ResultRedirectIndication, wire.ResultApplicationUnsupported, wire.ResultInvalidHdrBits,
	wire.ResultInvalidAVPLength, wire.ResultMissingAVP, wire.ResultUnableToComply, wire.ResultCommandUnsupported,
	wire.ResultSuccess,
}

// LocalResult returns how many answers with code the agent produced.
func (s *Stats) LocalResult(code uint32) uint64 {
	for i, c := range resultIndex {
		if c == code {
			return s.byResult[i].Load()
		}
	}
	return s.byResult[len(s.byResult)-1].Load()
}

// countLocal counts an answer the agent produced and returns its
// Result-Code.
func (s *Stats) countLocal(ans []byte) uint32 {
	s.LocalAnswers.Add(1)
	code, _ := resultCode(wire.Msg(ans))
	for i, c := range resultIndex {
		if c == code {
			s.byResult[i].Add(1)
			return code
		}
	}
	s.byResult[len(s.byResult)-1].Add(1)
	return code
}

// resultCode reads an answer's Result-Code.
func resultCode(m wire.Msg) (uint32, bool) {
	a, ok := m.Find(wire.AVPResultCode, 0)
	if !ok {
		return 0, false
	}
	return a.Uint32()
}
