package peers

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dra-project/dra/wire"
)

func TestElectionWon(t *testing.T) {
	tests := []struct {
		name          string
		local, remote string
		won           bool
	}{
		{"typical: local higher", "dra2.example.com", "dra1.example.com", true},
		{"typical: local lower", "dra1.example.com", "dra2.example.com", false},
		{"first octet decides", "b.example.com", "abc.example.com", true},
		{"later octet decides", "hss1.example.net", "hss1.example.com", true},
		{"equal prefix: longer wins", "dra1.example.com.", "dra1.example.com", true},
		{"equal prefix: shorter loses", "dra1", "dra10", false},
		{"equal", "dra1.example.com", "dra1.example.com", false},
		// Octets, not case-folded identities (RFC 6733 §5.6.4): 'a' (0x61)
		// is above 'A' (0x41), and 'Z' (0x5a) below '_' (0x5f).
		{"equal but for case: lower case wins", "a.example", "A.example", true},
		{"equal but for case: upper case loses", "A.example", "a.example", false},
		{"upper case sorts below lower case", "DRA2.Example.COM", "dra1.example.com", false},
		{"upper case sorts below lower case, reversed", "dra1.example.com", "DRA2.Example.COM", true},
		{"upper case letter below underscore", "Z.example", "_.example", false},
		{"upper case letter below underscore, reversed", "_.example", "Z.example", true},
		{"digits below letters", "a.example", "1.example", true},
		{"octets above 0x7f", "\xc3\xa9.example", "z.example", true},
		{"empty remote", "dra1", "", true},
		{"empty local", "", "dra1", false},
		{"both empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := electionWon(tt.local, tt.remote); got != tt.won {
				t.Errorf("electionWon(%q, %q) = %v, want %v", tt.local, tt.remote, got, tt.won)
			}
			// Exactly one side wins unless the identities are the same
			// octets.
			same := tt.local == tt.remote
			if back := electionWon(tt.remote, tt.local); !same && back == tt.won {
				t.Errorf("electionWon(%q, %q) = %v as well: both or neither side wins", tt.remote, tt.local, back)
			}
		})
	}
}

func TestStateString(t *testing.T) {
	tests := []struct {
		s    State
		name string
		open bool
	}{
		{StateClosed, "Closed", false},
		{StateWaitConnAck, "Wait-Conn-Ack", false},
		{StateWaitICEA, "Wait-I-CEA", false},
		{StateWaitConnAckElect, "Wait-Conn-Ack/Elect", false},
		{StateWaitReturns, "Wait-Returns", false},
		{StateROpen, "R-Open", true},
		{StateIOpen, "I-Open", true},
		{StateClosing, "Closing", false},
	}
	if len(tests) != int(StateClosing)+1 {
		t.Fatalf("%d states tested, %d defined", len(tests), StateClosing+1)
	}
	for _, tt := range tests {
		if tt.s.String() != tt.name {
			t.Errorf("State(%d).String() = %q, want %q", tt.s, tt.s.String(), tt.name)
		}
		if tt.s.Open() != tt.open {
			t.Errorf("%s.Open() = %v", tt.name, tt.s.Open())
		}
	}
}

func TestFoldKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"dra1.example.com", "dra1.example.com"},
		{"DRA1.Example.COM", "dra1.example.com"},
		{"dra1.example.coM", "dra1.example.com"},
		{"A", "a"},
		{"@[`{", "@[`{"}, // neighbours of the letter ranges stay
		{"AZaz09-_.", "azaz09-_."},
		{"\xc3\x89.example", "\xc3\x89.example"}, // only ASCII folds
	}
	for _, tt := range tests {
		if got := foldKey(tt.in); got != tt.want {
			t.Errorf("foldKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// The common case, an identity already in lower case, is free.
	s := "dra1.example.com"
	if n := testing.AllocsPerRun(100, func() { _ = foldKey(s) }); n != 0 {
		t.Errorf("foldKey of a lower-case identity allocates %.0f times", n)
	}
}

// peerSink is a Handler that counts what the peer layer hands over.
type peerSink struct {
	mu    sync.Mutex
	msgs  int
	downs int
}

func (s *peerSink) HandleMessage(p *Peer, c *Conn, m wire.Msg) {
	s.mu.Lock()
	s.msgs++
	s.mu.Unlock()
	wire.PutBuf(m)
}

func (s *peerSink) PeerDown(*Peer, *Conn) {
	s.mu.Lock()
	s.downs++
	s.mu.Unlock()
}

func (s *peerSink) counts() (msgs, downs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.msgs, s.downs
}

// newStateManager returns a Manager, not started, that knows capPeerHost.
// Tw is long: the tests drive the watchdog with messages, not time.
func newStateManager(t *testing.T) (*Manager, *Peer, *peerSink) {
	t.Helper()
	sink := &peerSink{}
	m, err := New(Options{
		Local:    Local{OriginHost: capLocalHost, OriginRealm: capLocalRealm, Relay: true},
		Peers:    []PeerConfig{{Identity: capPeerHost}},
		Watchdog: time.Hour,
		Handler:  sink,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.cancel)
	return m, m.Peer(capPeerHost), sink
}

// acceptedConn returns the agent's end of a loopback TCP connection as a
// Conn of m; the test's cleanup closes it as the reader would.
func acceptedConn(t *testing.T, m *Manager, p *Peer) *Conn {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	m.nconns.Add(1) // as the accept loop does
	c := m.newConn(server, false)
	t.Cleanup(func() {
		client.Close()
		c.Close(errShutdown)
		p.closed(c, errShutdown)
		m.connDone(c, errShutdown)
	})
	return c
}

// openResponder has the peer connect and send an acceptable CER with the
// given Origin-State-Id.
func openResponder(t *testing.T, m *Manager, p *Peer, stateID uint32) *Conn {
	t.Helper()
	c := acceptedConn(t, m, p)
	cer := capMsg(true, with(minimalCERAVPs(), mU32(wire.AVPOriginStateID, stateID)))
	caps, perr := parseCapabilities(cer, false)
	if perr != nil {
		t.Fatal(perr)
	}
	p.responderCER(c, cer, &caps, negotiate(m.opts.Local.Relay, m.opts.Local.Apps, &caps))
	return c
}

func appRequest() wire.Msg {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, wire.CmdCreditControl, capAppCC, 7, 8)
	return m.AppendStringAVP(wire.AVPSessionID, wire.AVPFlagMandatory, 0, "hss1.example.net;1;1")
}

func dwaMsg() wire.Msg {
	m := wire.NewMsg(0, wire.CmdDeviceWatchdog, 0, 9, 10)
	m = m.AppendUint32AVP(wire.AVPResultCode, wire.AVPFlagMandatory, 0, wire.ResultSuccess)
	return m.AppendStringAVP(wire.AVPOriginHost, wire.AVPFlagMandatory, 0, capPeerHost)
}

func wantPeerState(t *testing.T, p *Peer, s State, w WatchdogState) {
	t.Helper()
	if gs, gw := p.State(); gs != s || gw != w {
		t.Fatalf("peer %s/%s, want %s/%s", gs, gw, s, w)
	}
	if usable := s.Open() && w == WatchdogOkay; (p.Active() != nil) != usable {
		t.Fatalf("Active() = %v in %s/%s", p.Active(), s, w)
	}
}

// TestPeerReopenServesRequests: a connection that replaces a failed one
// (same Origin-State-Id: not a restart) is in REOPEN until three DWAs came
// back, and is not routed to meanwhile (RFC 3539 §3.4.1). Its capabilities
// exchange proved the peer alive, so the peer's own requests are served at
// once; answers, to nothing we sent, are thrown away.
func TestPeerReopenServesRequests(t *testing.T) {
	m, p, sink := newStateManager(t)

	c1 := openResponder(t, m, p, 1)
	wantPeerState(t, p, StateROpen, WatchdogOkay)
	p.receive(c1, appRequest())
	if msgs, _ := sink.counts(); msgs != 1 {
		t.Fatalf("%d messages delivered in OKAY, want 1", msgs)
	}
	c1.Close(io.EOF)
	p.closed(c1, io.EOF)
	wantPeerState(t, p, StateClosed, WatchdogDown)
	if _, downs := sink.counts(); downs != 1 {
		t.Errorf("%d PeerDown for a lost connection, want 1", downs)
	}

	c2 := openResponder(t, m, p, 1)
	wantPeerState(t, p, StateROpen, WatchdogReopen)
	p.receive(c2, appRequest())
	if msgs, _ := sink.counts(); msgs != 2 {
		t.Errorf("a request received in REOPEN was not delivered (%d messages, want 2)", msgs)
	}
	answer := appRequest()
	answer.SetFlags(answer.Flags() &^ wire.FlagRequest)
	p.receive(c2, answer)
	if msgs, _ := sink.counts(); msgs != 2 {
		t.Errorf("an answer received in REOPEN was delivered (%d messages, want 2)", msgs)
	}
	for range reopenDWAs {
		wantPeerState(t, p, StateROpen, WatchdogReopen)
		p.receive(c2, dwaMsg())
	}
	wantPeerState(t, p, StateROpen, WatchdogOkay)
	before, _ := sink.counts()
	p.receive(c2, appRequest())
	if msgs, _ := sink.counts(); msgs != before+1 {
		t.Errorf("a request received in OKAY was not delivered")
	}
}

// TestPeerRestartRefreshesTable: a CER with a new Origin-State-Id replaces
// the open connection; the peer table must show the new connection. A
// restarted peer proved itself with its new CER: it is usable at once,
// without REOPEN probation, whether its old connection was still open or
// already closed.
func TestPeerRestartRefreshesTable(t *testing.T) {
	m, p, sink := newStateManager(t)

	c1 := openResponder(t, m, p, 1)
	wantPeerState(t, p, StateROpen, WatchdogOkay)
	row, ok := m.Table().Get(capPeerHost)
	if !ok || row.Addr != c1.RemoteAddr().String() || row.Watchdog != WatchdogOkay || row.OriginStateID != 1 {
		t.Fatalf("row after the first CER: %+v", row)
	}

	c2 := openResponder(t, m, p, 2)
	wantPeerState(t, p, StateROpen, WatchdogOkay)
	if !errors.Is(c1.Err(), errReplaced) {
		t.Errorf("old connection: %v, want %v", c1.Err(), errReplaced)
	}
	if _, downs := sink.counts(); downs != 1 {
		t.Errorf("%d PeerDown for the replaced connection, want 1", downs)
	}
	row, _ = m.Table().Get(capPeerHost)
	if row.Addr != c2.RemoteAddr().String() || row.Watchdog != WatchdogOkay || row.OriginStateID != 2 {
		t.Errorf("row after the restart: addr %s watchdog %s state-id %d; want %s, OKAY, 2",
			row.Addr, row.Watchdog, row.OriginStateID, c2.RemoteAddr())
	}

	// The peer restarts again after its connection was lost (DOWN).
	c2.Close(io.EOF)
	p.closed(c2, io.EOF)
	wantPeerState(t, p, StateClosed, WatchdogDown)
	openResponder(t, m, p, 3)
	wantPeerState(t, p, StateROpen, WatchdogOkay)
}
