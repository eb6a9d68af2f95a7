package loadgen

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/dra-project/dra/wire"
)

// Mix names accepted by NewMix.
const (
	MixGeneric = "generic"
	MixCCR     = "ccr"
	MixACR     = "acr"
	MixAAR     = "aar"
)

// MixNames lists the mixes NewMix knows, in the order help texts show them.
var MixNames = []string{MixGeneric, MixCCR, MixACR, MixAAR}

// A Mix builds the requests of one kind of traffic. Traffic is made of
// sessions of SessionLen requests each; the client sends the requests of a
// session in order, the next one only after the answer to the previous one.
//
// Request is called concurrently for different sessions and must not keep
// s. Its result is a wire pool buffer (see wire.GetBuf) owned by the
// caller, with the R and P bits set and zero Hop-by-Hop and End-to-End
// identifiers for the caller to fill in.
type Mix interface {
	Name() string
	// AppID is the Application-Id of the requests.
	AppID() uint32
	// SessionLen is the number of requests per session (at least 1).
	SessionLen() int
	// Request builds request number s.Step (0-based) of session s.
	Request(s *Session) wire.Msg
}

// MixConfig parameterises the mixes. Zero fields take the defaults noted.
type MixConfig struct {
	// Name is one of MixNames; "" means MixGeneric.
	Name string
	// DestRealm is the Destination-Realm of every request (required).
	DestRealm string
	// DestHost, if set, is sent as Destination-Host.
	DestHost string

	// Generic mix: the header's Application-Id and Command-Code (default
	// 4 and 272) and the size in bytes each request is padded to (default
	// 200) with a vendor-specific AVP without the M bit (PadVendorID,
	// PadAVPCode). App 3 is announced with Acct-Application-Id, any other
	// with Auth-Application-Id.
	App, Cmd uint32
	Size     int

	// Updates is the number of CCR-UPDATE (ccr) or INTERIM records (acr)
	// between the first and the last request of a session (default 2;
	// set NoUpdates for none).
	Updates   int
	NoUpdates bool

	// Subscribers is the size of the subscriber range (default 100000).
	// Session n uses subscriber n % Subscribers: MSISDN MSISDNFirst+i
	// (Subscription-Id END_USER_E164, default 33600000000) and User-Name
	// UserName with %d replaced by i (default "user%d@load.test").
	Subscribers uint64
	MSISDNFirst uint64
	UserName    string

	// ccr: Service-Context-Id (default "32251@3gpp.org"), Rating-Group
	// (default 1) and the CC-Total-Octets asked for and reported as used
	// per request (default 1000000).
	ServiceContextID string
	RatingGroup      uint32
	Octets           uint64

	// aar: the PAP User-Password (default "load-password").
	Password string
}

func (c *MixConfig) setDefaults() {
	if c.Name == "" {
		c.Name = MixGeneric
	}
	if c.App == 0 && c.Cmd == 0 {
		c.App, c.Cmd = AppCreditControl, wire.CmdCreditControl
	}
	if c.Size == 0 {
		c.Size = 200
	}
	if c.Updates == 0 && !c.NoUpdates {
		c.Updates = 2
	}
	if c.Subscribers == 0 {
		c.Subscribers = 100000
	}
	if c.MSISDNFirst == 0 {
		c.MSISDNFirst = 33600000000
	}
	if c.UserName == "" {
		c.UserName = defaultUserNamePattern
	}
	if c.ServiceContextID == "" {
		c.ServiceContextID = defaultServiceContext
	}
	if c.RatingGroup == 0 {
		c.RatingGroup = 1
	}
	if c.Octets == 0 {
		c.Octets = 1000000
	}
	if c.Password == "" {
		c.Password = defaultPassword
	}
}

// maxStringAVP bounds the configurable strings so that every request fits
// the buffer size estimated for it.
const maxStringAVP = 255

// NewMix returns the mix cfg names, with defaults applied.
func NewMix(cfg MixConfig) (Mix, error) {
	cfg.setDefaults()
	if cfg.DestRealm == "" {
		return nil, fmt.Errorf("loadgen: mix: destination realm is required")
	}
	if cfg.Updates < 0 {
		return nil, fmt.Errorf("loadgen: mix: negative number of updates %d", cfg.Updates)
	}
	if cfg.Size < 0 || cfg.Size > wire.DefaultMaxLen {
		return nil, fmt.Errorf("loadgen: mix: size %d outside 0..%d", cfg.Size, wire.DefaultMaxLen)
	}
	for _, s := range []string{cfg.DestRealm, cfg.DestHost, cfg.UserName, cfg.ServiceContextID, cfg.Password} {
		if len(s) > maxStringAVP {
			return nil, fmt.Errorf("loadgen: mix: %.20q... longer than %d bytes", s, maxStringAVP)
		}
	}
	user, err := parsePattern(cfg.UserName)
	if err != nil {
		return nil, fmt.Errorf("loadgen: mix: user name: %w", err)
	}
	b := mixBase{cfg: cfg, user: user}
	switch cfg.Name {
	case MixGeneric:
		return &genericMix{b}, nil
	case MixCCR:
		return &ccrMix{b}, nil
	case MixACR:
		return &acrMix{b}, nil
	case MixAAR:
		return &aarMix{b}, nil
	}
	return nil, fmt.Errorf("loadgen: unknown mix %q (want one of %s)", cfg.Name, strings.Join(MixNames, ", "))
}

// pattern is a string with at most one %d, split around it.
type pattern struct {
	prefix, suffix string
	hasNum         bool
}

func parsePattern(s string) (pattern, error) {
	i := strings.Index(s, "%d")
	if i < 0 {
		if strings.Contains(s, "%") {
			return pattern{}, fmt.Errorf("%q: only %%d may be used", s)
		}
		return pattern{prefix: s}, nil
	}
	p := pattern{prefix: s[:i], suffix: s[i+2:], hasNum: true}
	if strings.Contains(p.prefix, "%") || strings.Contains(p.suffix, "%") {
		return pattern{}, fmt.Errorf("%q: only one %%d may be used", s)
	}
	return p, nil
}

// appendTo appends the pattern with n in place of %d.
func (p pattern) appendTo(b []byte, n uint64) []byte {
	b = append(b, p.prefix...)
	if p.hasNum {
		b = strconv.AppendUint(b, n, 10)
		b = append(b, p.suffix...)
	}
	return b
}

// format returns the pattern with n in place of %d.
func (p pattern) format(n uint64) string { return string(p.appendTo(nil, n)) }

// Session is one session of a mix: its Session-Id, the identity it is sent
// from and how far it went. The client reuses Session values.
type Session struct {
	// ID is the Session-Id: "<origin-host>;<boot>;<seq>" (RFC 6733 §8.8).
	ID []byte
	// Seq numbers the sessions of a run; it picks the subscriber.
	Seq uint64
	// Step is the 0-based number of the request to build next.
	Step int
	// OriginHost and OriginRealm identify the sending peer.
	OriginHost, OriginRealm string
}

// Start makes s a new session numbered seq at its first step, reusing the
// memory of its Session-Id. boot is the high part of the Session-Id,
// normally the client's start time in seconds.
func (s *Session) Start(originHost, originRealm string, boot uint32, seq uint64) {
	s.ID = append(s.ID[:0], originHost...)
	s.ID = append(s.ID, ';')
	s.ID = strconv.AppendUint(s.ID, uint64(boot), 10)
	s.ID = append(s.ID, ';')
	s.ID = strconv.AppendUint(s.ID, seq, 10)
	s.Seq = seq
	s.Step = 0
	s.OriginHost, s.OriginRealm = originHost, originRealm
}

// mixBase holds what every mix shares.
type mixBase struct {
	cfg  MixConfig
	user pattern
}

// subscriber returns the subscriber index of session s.
func (b *mixBase) subscriber(s *Session) uint64 { return s.Seq % b.cfg.Subscribers }

// sizeHint is an upper bound of the bytes a request of session s takes
// with extra bytes of mix-specific AVPs.
func (b *mixBase) sizeHint(s *Session, extra int) int {
	// Header, Session-Id, Origin-Host, Origin-Realm, Destination-Realm,
	// Destination-Host, Application-Id: 7 AVP headers of at most 12 bytes
	// plus padding.
	return wire.HeaderLen + 7*16 + len(s.ID) + len(s.OriginHost) + len(s.OriginRealm) +
		len(b.cfg.DestRealm) + len(b.cfg.DestHost) + extra
}

// head starts a request of session s with a buffer of at least size bytes:
// header, Session-Id, Origin-Host, Origin-Realm, Destination-Realm and,
// when configured, Destination-Host.
func (b *mixBase) head(s *Session, code, app uint32, size int) []byte {
	m := wire.GetBuf(size)[:wire.HeaderLen]
	m[0] = wire.Version
	m[4] = wire.FlagRequest | wire.FlagProxiable
	m[5], m[6], m[7] = byte(code>>16), byte(code>>8), byte(code)
	binary.BigEndian.PutUint32(m[8:12], app)
	clear(m[12:20])
	m = wire.AppendAVP(m, wire.AVPSessionID, wire.AVPFlagMandatory, 0, s.ID)
	m = wire.AppendStringAVP(m, wire.AVPOriginHost, wire.AVPFlagMandatory, 0, s.OriginHost)
	m = wire.AppendStringAVP(m, wire.AVPOriginRealm, wire.AVPFlagMandatory, 0, s.OriginRealm)
	m = wire.AppendStringAVP(m, wire.AVPDestinationRealm, wire.AVPFlagMandatory, 0, b.cfg.DestRealm)
	if b.cfg.DestHost != "" {
		m = wire.AppendStringAVP(m, wire.AVPDestinationHost, wire.AVPFlagMandatory, 0, b.cfg.DestHost)
	}
	return m
}

// done sets the header length of the request built in m.
func done(m []byte) wire.Msg {
	msg := wire.Msg(m)
	msg.SetLen(len(m))
	return msg
}

// The AVPs whose data the builders compute are written in place: beginAVP
// appends the AVP header (M bit, no vendor) with wire, the data is
// appended after it, and endAVP sets the length and pads. (Passing a
// stack buffer as data to wire's encoders would move it to the heap.)

// beginAVP appends an AVP header and returns where the AVP starts.
func beginAVP(m []byte, code uint32) ([]byte, int) {
	start := len(m)
	return wire.AppendAVP(m, code, wire.AVPFlagMandatory, 0, nil), start
}

// endAVP sets the length of the AVP that starts at start and pads it.
func endAVP(m []byte, start int) []byte {
	n := len(m) - start
	m[start+5], m[start+6], m[start+7] = byte(n>>16), byte(n>>8), byte(n)
	var pad [3]byte
	return append(m, pad[:(4-n&3)&3]...)
}

// beginGroup and endGroup bracket the members of a Grouped AVP.
func beginGroup(m []byte, code uint32) ([]byte, int) { return beginAVP(m, code) }
func endGroup(m []byte, start int) []byte            { return endAVP(m, start) }

// appendUint32 appends an Unsigned32/Enumerated AVP with the M bit.
func appendUint32(m []byte, code uint32, v uint32) []byte {
	m, start := beginAVP(m, code)
	return endAVP(binary.BigEndian.AppendUint32(m, v), start)
}

// appendUint64AVP appends an Unsigned64 AVP with the M bit.
func appendUint64AVP(m []byte, code uint32, v uint64) []byte {
	m, start := beginAVP(m, code)
	return endAVP(binary.BigEndian.AppendUint64(m, v), start)
}

// appendNumberAVP appends a UTF8String AVP with the M bit holding the
// decimal digits of v.
func appendNumberAVP(m []byte, code uint32, v uint64) []byte {
	m, start := beginAVP(m, code)
	return endAVP(strconv.AppendUint(m, v, 10), start)
}

// appendPatternAVP appends a UTF8String AVP with the M bit holding p with n
// in place of %d.
func appendPatternAVP(m []byte, code uint32, p pattern, n uint64) []byte {
	m, start := beginAVP(m, code)
	return endAVP(p.appendTo(m, n), start)
}

// appendAppID appends Acct-Application-Id for base accounting, otherwise
// Auth-Application-Id.
func appendAppID(m []byte, app uint32) []byte {
	if app == AppBaseAccounting {
		return appendUint32(m, wire.AVPAcctApplicationID, app)
	}
	return appendUint32(m, wire.AVPAuthApplicationID, app)
}
