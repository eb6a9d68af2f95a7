package peers

// State is the RFC 6733 §5.6 peer state.
type State uint8

// Peer states (RFC 6733 §5.6).
const (
	StateClosed State = iota
	StateWaitConnAck
	StateWaitICEA
	StateWaitConnAckElect
	StateWaitReturns
	StateROpen
	StateIOpen
	StateClosing
)

func (s State) String() string {
	return [...]string{"Closed", "Wait-Conn-Ack", "Wait-I-CEA", "Wait-Conn-Ack/Elect", "Wait-Returns", "R-Open", "I-Open", "Closing"}[s]
}

// Open reports whether the state is I-Open or R-Open.
func (s State) Open() bool { return s == StateROpen || s == StateIOpen }

// electionWon reports whether the local identity wins the election against
// remote (RFC 6733 §5.6.4): the responder compares the two Origin-Hosts "as
// two streams of octets", and the lexicographically higher one wins. No case
// folding: both sides must reach the same verdict, whatever their
// implementation, for identities that differ only in case too.
func electionWon(local, remote string) bool { return local > remote }

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// foldKey is the case-insensitive key of a Diameter identity.
func foldKey(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lower(b[j])
			}
			return string(b)
		}
	}
	return s
}
