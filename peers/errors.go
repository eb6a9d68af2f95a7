package peers

import (
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/dra-project/dra/wire"
)

// Reasons a connection is closed by the peer layer.
var (
	errElectionWon  = errors.New("peers: election won, our connection dropped")
	errReplaced     = errors.New("peers: replaced by the peer's new connection")
	errStale        = errors.New("peers: stale connection")
	errCEARejected  = errors.New("peers: capabilities exchange failed")
	errDisconnected = errors.New("peers: disconnected by DPR/DPA")
	errDPATimeout   = errors.New("peers: no DPA in time")
	errWatchdog     = errors.New("peers: watchdog expired")
	errShutdown     = errors.New("peers: agent shutting down")
	errCERTimeout   = errors.New("peers: no capabilities exchange in time")
	errNotCER       = errors.New("peers: first message is not a CER")
	errNotCEA       = errors.New("peers: first message is not a CEA")
	errRefused      = errors.New("peers: peer refused")
)

// verifyIdentity checks that the TLS certificate the peer presented names
// the Origin-Host it announced (RFC 6733 §13.1).
func verifyIdentity(c *Conn, originHost string) error {
	st := c.TLS()
	if st == nil {
		return errors.New("identity verification needs TLS")
	}
	if len(st.PeerCertificates) == 0 {
		return errors.New("peer presented no certificate")
	}
	cert := st.PeerCertificates[0]
	if err := cert.VerifyHostname(originHost); err != nil {
		// VerifyHostname ignores the CN when SANs are present; accept a CN
		// match for certificates without DNS SANs.
		if len(cert.DNSNames) == 0 && foldKey(cert.Subject.CommonName) == foldKey(originHost) {
			return nil
		}
		var he x509.HostnameError
		if errors.As(err, &he) {
			return fmt.Errorf("certificate does not name Origin-Host %q", originHost)
		}
		return fmt.Errorf("certificate check for %q: %w", originHost, err)
	}
	return nil
}

var resultNames = map[uint32]string{
	wire.ResultSuccess:                "DIAMETER_SUCCESS",
	wire.ResultUnableToDeliver:        "DIAMETER_UNABLE_TO_DELIVER",
	wire.ResultTooBusy:                "DIAMETER_TOO_BUSY",
	wire.ResultUnknownPeer:            "DIAMETER_UNKNOWN_PEER",
	wire.ResultElectionLost:           "DIAMETER_ELECTION_LOST",
	wire.ResultMissingAVP:             "DIAMETER_MISSING_AVP",
	wire.ResultInvalidAVPValue:        "DIAMETER_INVALID_AVP_VALUE",
	wire.ResultNoCommonApplication:    "DIAMETER_NO_COMMON_APPLICATION",
	wire.ResultNoCommonSecurity:       "DIAMETER_NO_COMMON_SECURITY",
	wire.ResultUnableToComply:         "DIAMETER_UNABLE_TO_COMPLY",
	wire.ResultAVPUnsupported:         "DIAMETER_AVP_UNSUPPORTED",
	wire.ResultInvalidAVPLength:       "DIAMETER_INVALID_AVP_LENGTH",
	wire.ResultAVPOccursTooManyTimes:  "DIAMETER_AVP_OCCURS_TOO_MANY_TIMES",
	wire.ResultInvalidMessageLength:   "DIAMETER_INVALID_MESSAGE_LENGTH",
	wire.ResultUnsupportedVersion:     "DIAMETER_UNSUPPORTED_VERSION",
	wire.ResultApplicationUnsupported: "DIAMETER_APPLICATION_UNSUPPORTED",
}

func resultName(code uint32) string {
	if n, ok := resultNames[code]; ok {
		return fmt.Sprintf("%d %s", code, n)
	}
	return fmt.Sprint(code)
}

func causeName(c uint32) string {
	switch c {
	case CauseRebooting:
		return "REBOOTING"
	case CauseBusy:
		return "BUSY"
	case CauseDoNotWantToTalkToYou:
		return "DO_NOT_WANT_TO_TALK_TO_YOU"
	}
	return "unspecified"
}
