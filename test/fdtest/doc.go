// Package fdtest starts and stops freeDiameter daemons (freeDiameterd 1.2.1
// from Debian) so that dra's tests can exercise an independent Diameter
// implementation over loopback TCP or TLS.
//
//	fdtest.Require(t) // fails (not skips) when test/deps.sh was not run
//	srv := fdtest.Start(t, fdtest.Config{
//		Identity: "fd1.fd.test",
//		Peers:    []fdtest.Peer{{Identity: "dra.dra.test"}}, // accepted, not dialled
//	})
//	// ... make dra connect to srv.Addr() ...
//	srv.WaitPeerState(t, "dra.dra.test", fdtest.StateOpen, 5*time.Second)
//
// Start writes freeDiameter.conf, a CA, a leaf certificate and the log into
// t.TempDir(), runs `freeDiameterd -dd -c freeDiameter.conf`, waits for the
// line "freeDiameterd daemon initialized." and then for its ports to listen
// (the server threads call listen() after that line: a connection made right
// after it can be refused), and registers Stop with
// t.Cleanup (a failed test also gets the last 50 log lines). Ports are free
// loopback ports unless ListenAddr names one. GenerateCA and GenerateLeaf
// make certificates shared by several nodes and by the Go side.
//
// Everything stays on the loopback interface: ListenAddr and Peer.Addr must
// be loopback addresses, and freeDiameterd runs with an LD_PRELOAD library
// (built once with cc, cached in the user cache directory; see loopback.go)
// that binds its wildcard listeners to 127.0.0.1 / ::1 and refuses any
// bind, connect or send towards another address.
//
// # freeDiameter 1.2.1 as found on Debian 12 (checked on the real binary)
//
// Configuration syntax that works (keywords are case-insensitive):
//
//	Identity = "fd1.fd.test";  Realm = "fd.test";
//	Port = 3868;               # clear TCP server; 0 disables it
//	SecPort = 5868;            # TLS-first (RFC 6733) server; 0 disables it
//	ListenOn = "127.0.0.1";    # IGNORED for loopback addresses, see below
//	No_SCTP; No_IPv6; Prefer_TCP; NoRelay;
//	TcTimer = 30; TwTimer = 30;  # TwTimer < 6 is a parse error
//	TLS_Cred = "cert.pem", "key.pem";  TLS_CA = "ca.pem";  # TLS_CA may repeat
//	LoadExtension = "/usr/lib/freeDiameter/acl_wl.fdx" : "acl_wl.conf";
//	ConnectPeer = "fd2.fd.test" { ConnectTo = "127.0.0.1"; Port = 3869; No_TLS; TcTimer = 5; TwTimer = 6; Realm = "fd.test"; };
//
// TLS_Cred and TLS_CA are mandatory even when no connection uses TLS, and
// the local certificate must verify against TLS_CA for the Identity name, or
// the daemon refuses to start. ECDSA P-256 certificates made with
// crypto/x509 work (despite the sample config asking for RSA). No
// TLS_DH_File is needed: the daemon generates 1024-bit DH parameters at
// start-up without a noticeable delay. Without SCTP in the kernel, No_SCTP
// is required.
//
// ListenOn cannot name a loopback address: its endpoint filter drops 127/8
// and ::1 silently, the endpoint list stays empty and the servers bind
// 0.0.0.0 (and [::] unless No_IPv6). Its log still says "TCP srv
// [0.0.0.0]:port" under the loopback guard, which binds 127.0.0.1 instead.
// For the same reason CER/CEA carry the machine's non-loopback addresses
// in Host-IP-Address (e.g. 192.0.2.2), never 127.0.0.1: do not dial them.
//
// Extensions load in order and dependencies are enforced: dict_dcca_3gpp
// without dict_dcca first is FATAL ("depends on [dict_dcca] which was not
// loaded first") and the daemon exits; dict_dcca itself needs dict_nasreq.
// dict_* extensions add Supported-Vendor-Id AVPs (one per known vendor) to
// CER/CEA, but no application: with these packages no extension makes
// freeDiameter advertise an application other than Relay.
//
// Log format: "HH:MM:SS  LEVEL  text", levels NOTI, DBG, ERROR, FATAL!;
// fields inside a state line are separated by TABs. The default level
// (+3, NOTICE) logs only the state transitions to or from STATE_OPEN and the
// terminal one; -dd (level 1, DEBUG; a single -d changes nothing useful)
// logs every transition and one "SENT to"/"RCV from" summary line per
// message, which is why Start uses -dd:
//
//	 DBG   'STATE_CLOSED'	-> 'STATE_WAITCNXACK'	'fd2.fd.test'
//	 DBG   'STATE_WAITCNXACK'	-> 'STATE_WAITCEA'	'fd2.fd.test'
//	NOTI   'STATE_WAITCEA'	-> 'STATE_OPEN'	'fd2.fd.test'     (initiator)
//	NOTI   'STATE_CLOSED'	-> 'STATE_OPEN'	'fd1.fd.test'     (responder)
//	NOTI   'STATE_CLOSED'	-> STATE_ZOMBIE (terminated)	'fd2.fd.test'
//	 DBG   SENT to 'fd2.fd.test': 'Disconnect-Peer-Request'0/282 f:R--- src:'(nil)' len:68 {C:264/l:17,C:296/l:15,C:273/l:12}
//	 DBG   RCV from 'fd2.fd.test': (no model)4/272 f:RP-- src:'c.go.test' len:144 {...}
//	NOTI   Connected to 'fd2.fd.test' (TCP,soc#5), remote capabilities:   ("TCP,TLS," over TLS)
//	NOTI   No TLS protection negotiated with peer 'fd2.fd.test'.
//
// "Connected to" is followed by a line dumping the peer's whole CER or CEA.
// Other states: STATE_CLOSING_GRACE, STATE_CLOSING, STATE_SUSPECT,
// STATE_REOPEN. Log lines of different threads can interleave ("Going to
// ZOMBIE state" may precede the transition it follows).
//
// Unknown peers: by default a CER from an identity that has no ConnectPeer
// entry is refused with 3010 DIAMETER_UNKNOWN_PEER (answer with the E bit,
// Error-Message "DIAMETER_UNKNOWN_PEER"). The responder logs
//
//	Rejected CER from peer 'a.fd.test', validation failed (returning DIAMETER_UNKNOWN_PEER).
//
// A ConnectPeer entry without ConnectTo would make the daemon resolve the
// identity in DNS and dial it. The acl_wl extension accepts listed
// identities without dialling them (file: one identity per line, "*" allowed
// as the first label), but only over TLS unless the line starts with
// ALLOW_IPSEC ("Peer 'x' rejected, only TLS-protected connection is
// whitelisted."). Such dynamic peers go to STATE_ZOMBIE (deleted) right after
// they close, hence WaitPeerState(StateClosed) also accepting StateZombie.
//
// Failed CEA, as logged by the initiator (then 'STATE_WAITCEA' ->
// 'STATE_CLOSED'; it dials again about 10 s later, while a refused TCP
// connection is retried every Tc +/- 2 s):
//
//	NOTI   Connection to 'b.fd.test' failed: 'CEA with unexpected error code'; CER/CEA dump:
//	NOTI      Capabilities-Exchange-Answer(257)[--E-], ..., { Result-Code(268)[-M]='DIAMETER_UNKNOWN_PEER' (3010 (0xbc2)) }, ...
//	ERROR  ERROR: in '(fd_p_ce_msgrcv(&msg, (hdr->msg_flags & 0x80), peer))' :	Invalid argument
//
// with 5010 the dump reads ='DIAMETER_NO_COMMON_APPLICATION' (5010 (0x1392))
// (flags [----]: no E bit) and the responder logs "No common application
// with peer 'a.fd.test', sending DIAMETER_NO_COMMON_APPLICATION".
//
// CER contents (captured with tshark on lo). Relay enabled (default), clear
// TCP: Origin-Host, Origin-Realm, Origin-State-Id, Host-IP-Address,
// Vendor-Id 0, Product-Name "freeDiameter", Firmware-Revision 10201,
// Inband-Security-Id 0 (NO_INBAND_SECURITY; absent over TLS), and
// Auth-Application-Id 4294967295 (Relay, as Auth-, not Acct-Application-Id).
// The CEA carries Result-Code first, then the same AVPs without
// Inband-Security-Id. With NoRelay: the same without any *-Application-Id
// AVP, i.e. nothing at all is advertised. A NoRelay node accepts only peers
// that advertise Relay (it has no application to share), and answers any
// other CER with 5010 DIAMETER_NO_COMMON_APPLICATION; a relaying node
// accepts a peer whatever it advertises (even nothing).
//
// SIGTERM: "FATAL! Initiating freeDiameter shutdown sequence (3)", then a DPR
// with Disconnect-Cause REBOOTING to each open peer ('STATE_OPEN' ->
// 'STATE_CLOSING_GRACE'); the remote freeDiameter logs
//
//	NOTI   Peer 'a.fd.test' sent a DPR with cause: REBOOTING
//	NOTI   'STATE_OPEN'	-> 'STATE_CLOSING'	'a.fd.test'
//	 DBG   'STATE_CLOSING'	-> 'STATE_CLOSED'	'a.fd.test'
//
// and answers with a DPA. The stopping daemon exits as soon as every peer has
// answered; a peer that never answers the DPR holds it for about 16 s (Stop
// kills it after 10 s). SIGKILL: the peer logs "Connection to 'a.fd.test'
// failed: The connection was broken" and 'STATE_OPEN' -> 'STATE_CLOSED'.
//
// TLS: a ConnectPeer without No_TLS dials Port with TLS from the first byte
// (RFC 6733; TLS_old_method would do the RFC 3588 in-band upgrade). The TLS
// server requires a client certificate signed by one of its TLS_CA. When
// dialling, freeDiameter checks that the server certificate names the
// ConnectPeer identity, else "The certificate hostname does not match
// 'dra.fd.test'" and "TLS Handshake failed"; its own certificate must name
// its Identity too ("TLS: The certificate owner does not match the hostname"
// and exit at start-up). With GenerateLeaf certificates from one CA, a Go
// crypto/tls client handshakes with a node's SecPort, and a Go TLS server
// requiring client certificates accepts a node dialling it.
//
// Routing: a relaying node forwards a request to another peer. The default
// routing picks the peer whose advertised realm equals Destination-Realm
// (or the Destination-Host peer); rt_default rules add scores, one rule per
// line of its configuration file:
//
//	dr="other.test" : "s.go.test" += 100 ;   # Destination-Realm -> peer
//	* : "proxy.fd.test" += DEFAULT ;          # default next hop
//	dr="realmA" : rlm="realmB" += DEFAULT_REALM ;
//
// (criteria oh= or= dh= dr= un= si= or *, "exact" or ["regex"]; scores may be
// numbers or NO_DELIVERY, DEFAULT, DEFAULT_REALM, REALM, FINALDEST, ...).
// Checked end to end: a request from one Go peer with Destination-Realm
// other.test reached the Go peer s.go.test through rt_default and the
// answer came back; a request for an unknown realm got 3002
// DIAMETER_UNABLE_TO_DELIVER (E bit, Error-Message "No suitable candidate
// to route the message to", Origin-Host of the relay). freeDiameter adds a
// Route-Record with the sending peer's identity to every message it
// forwards, answers included, which RFC 6733 does not do.
package fdtest
