package configs

import (
	"time"

	"github.com/dra-project/dra/admin"
	"github.com/dra-project/dra/apps/aaa"
	"github.com/dra-project/dra/apps/cdf"
	"github.com/dra-project/dra/apps/ocs"
	"github.com/dra-project/dra/state"
	"github.com/dra-project/dra/telemetry"
)

// Apps configures the local applications; each is off unless enabled.
type Apps struct {
	CDF CDF `mapstructure:"cdf"`
	OCS OCS `mapstructure:"ocs"`
	AAA AAA `mapstructure:"aaa"`
}

// CDF is the embedded charging data function (Rf accounting, application 3).
type CDF struct {
	Enabled      bool `mapstructure:"enabled"`
	cdf.Config   `mapstructure:",squash"`
	LocalWorkers `mapstructure:",squash"`
}

// OCS is the embedded online charging system (Gy/Ro credit control,
// application 4).
type OCS struct {
	Enabled      bool `mapstructure:"enabled"`
	ocs.Config   `mapstructure:",squash"`
	LocalWorkers `mapstructure:",squash"`
}

// AAA is the embedded NASREQ server (application 1).
type AAA struct {
	Enabled      bool `mapstructure:"enabled"`
	aaa.Config   `mapstructure:",squash"`
	LocalWorkers `mapstructure:",squash"`
}

// LocalWorkers sizes the workers of one local application. Each
// application has its own, so that a slow one (the AAA checks a PBKDF2
// password in ~100 ms) cannot hold up the others' requests.
type LocalWorkers struct {
	// Workers is how many of the application's requests are served at
	// once; 0 means the default, 64.
	Workers int `mapstructure:"workers"`
	// Queue is how many more may wait for a worker (a session always
	// waits for the same one, so its requests keep their order); beyond
	// that, requests are answered 3004 DIAMETER_TOO_BUSY at once. 0 means
	// the default, 4096. With pbkdf2-sha256 users (a PAP check costs ~100
	// ms of CPU) a smaller AAA queue refuses a burst rather than answering
	// it past Tx.
	Queue int `mapstructure:"queue"`
}

// Bounds of LocalWorkers.
const (
	MaxLocalWorkers = 1024
	MaxLocalQueue   = 1 << 20
)

// Config is the whole agent configuration.
type Config struct {
	Identity Identity `mapstructure:"identity"`
	// Listen lists the addresses the agent accepts peer connections on.
	Listen []Listener `mapstructure:"listen"`
	// Peers lists the known peers. Unless AcceptUnknownPeers is set, only
	// these identities may connect.
	Peers []Peer `mapstructure:"peers"`
	// AcceptUnknownPeers admits peers that are not listed in Peers.
	AcceptUnknownPeers bool `mapstructure:"accept_unknown_peers"`
	// Routing holds the router's defaults.
	Routing Routing `mapstructure:"routing"`
	// Routes is the realm routing table (RFC 6733 §2.7).
	Routes []Route `mapstructure:"routes"`
	Timers Timers  `mapstructure:"timers"`
	// Admin is the HTTP admin API (health, readiness, peers, routes,
	// reload, disconnect).
	Admin admin.Config `mapstructure:"admin"`
	// Telemetry configures OpenTelemetry traces and metrics.
	Telemetry telemetry.Config `mapstructure:"telemetry"`
	// Apps are the applications the agent serves itself (route action
	// local, or Destination-Host naming the agent).
	Apps   Apps   `mapstructure:"apps"`
	Limits Limits `mapstructure:"limits"`
	Log    Log    `mapstructure:"log"`
	// Policy holds admission, rate limits, AVP rules, topology hiding and
	// overload control (configs/policy.go).
	Policy Policy `mapstructure:"policy"`
	// State is where shared state lives: embedded (the default) or Redis
	// (configs/state.go).
	State state.Config `mapstructure:"state"`
}

// Identity is what the agent says about itself in CER/CEA and in the
// answers it originates.
type Identity struct {
	OriginHost  string `mapstructure:"origin_host"`
	OriginRealm string `mapstructure:"origin_realm"`
	ProductName string `mapstructure:"product_name"`
	// VendorID is the IANA enterprise number sent as Vendor-Id (0: none).
	VendorID         uint32 `mapstructure:"vendor_id"`
	FirmwareRevision uint32 `mapstructure:"firmware_revision"`
	// HostIPAddresses overrides the Host-IP-Address list sent in CER/CEA.
	// Empty: the addresses the agent listens on (all interface addresses
	// for a wildcard listener) and the connection's local address.
	HostIPAddresses []string `mapstructure:"host_ip_addresses"`
	// SupportedVendorIDs are advertised as Supported-Vendor-Id.
	SupportedVendorIDs []uint32 `mapstructure:"supported_vendor_ids"`
}

// Listener is one listening socket.
type Listener struct {
	Address   string `mapstructure:"address"`
	Transport string `mapstructure:"transport"` // tcp or tls
	TLS       TLS    `mapstructure:"tls"`
}

// TLS configures one side of a TLS connection. Certificates are PEM files.
type TLS struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
	// CAFile holds the CAs the remote certificate must chain to.
	CAFile string `mapstructure:"ca_file"`
	// ClientAuth (listeners only): none, request or require. require makes
	// the listener mutual TLS.
	ClientAuth string `mapstructure:"client_auth"`
	// ServerName (outgoing peers only) overrides the name checked in the
	// server certificate; default: the peer's host.
	ServerName string `mapstructure:"server_name"`
	// VerifyIdentity requires the certificate to name the Origin-Host the
	// peer announces in its CER/CEA. Unset, it is on wherever a verified
	// certificate is required (see VerifiesIdentity): a certificate of
	// the CA must not claim any Origin-Host. false turns it off.
	VerifyIdentity *bool `mapstructure:"verify_identity"`
}

// VerifiesIdentity is VerifyIdentity as written, or by default true when
// the other side must present a certificate: an outgoing TLS peer (the
// server's) and a listener with client_auth require (the client's). A
// listener with client_auth request or none admits clients without one,
// so it does not check by default.
func (t TLS) VerifiesIdentity(certRequired bool) bool {
	if t.VerifyIdentity != nil {
		return *t.VerifyIdentity
	}
	return certRequired
}

// Peer is one configured peer.
type Peer struct {
	// Host is the peer's Diameter identity (its Origin-Host).
	Host string `mapstructure:"host"`
	// Realm, when set, must equal the Origin-Realm the peer announces.
	Realm string `mapstructure:"realm"`
	// Address is host:port to dial; needed when Connect is true.
	Address string `mapstructure:"address"`
	// Connect makes the agent dial the peer and redial it with Tc.
	Connect   bool   `mapstructure:"connect"`
	Transport string `mapstructure:"transport"` // tcp or tls
	TLS       TLS    `mapstructure:"tls"`
	// Mandatory peers must be open for the agent to report itself ready.
	Mandatory bool `mapstructure:"mandatory"`
	// WatchdogInterval overrides timers.watchdog for this peer.
	WatchdogInterval time.Duration `mapstructure:"watchdog_interval"`
}

// Timers are the protocol timers.
type Timers struct {
	// Watchdog is RFC 3539 Tw (at least 6s); jitter of ±2s is added.
	Watchdog time.Duration `mapstructure:"watchdog"`
	// Reconnect is RFC 6733 Tc, the first redial delay.
	Reconnect time.Duration `mapstructure:"reconnect"`
	// ReconnectMax caps the exponential redial backoff.
	ReconnectMax time.Duration `mapstructure:"reconnect_max"`
	// Capabilities bounds the CER/CEA exchange on a new connection.
	Capabilities time.Duration `mapstructure:"capabilities"`
	// Disconnect bounds a shutdown or an operator disconnect: the drain of
	// the requests in flight, then DPR and the wait for its DPA.
	Disconnect time.Duration `mapstructure:"disconnect"`
}

// Limits bound resource use.
type Limits struct {
	// MaxMessageSize is the largest Diameter message accepted, in bytes.
	MaxMessageSize int `mapstructure:"max_message_size"`
	// MaxConnections bounds concurrently accepted connections.
	MaxConnections int `mapstructure:"max_connections"`
	// WriteQueue bounds a connection's write queue: new requests are not
	// sent on a connection with 3/4 of it waiting (3004 when no other peer
	// is left), a peer owed half of it in answers gets 3004 for new
	// requests, and one owed all of it is not read until they drain.
	// Answers are never dropped for a full queue.
	WriteQueue int `mapstructure:"write_queue"`
	// MaxAVPs bounds the AVPs in one request, nested ones included; more
	// are answered 5009 DIAMETER_AVP_OCCURS_TOO_MANY_TIMES.
	MaxAVPs int `mapstructure:"max_avps"`
	// MaxAVPDepth bounds the nesting of Grouped AVPs (top-level AVPs are
	// depth 1); deeper requests are answered 5004
	// DIAMETER_INVALID_AVP_VALUE.
	MaxAVPDepth int `mapstructure:"max_avp_depth"`
}

// Log configures the agent's log output.
type Log struct {
	Level  string `mapstructure:"level"`  // debug, info, warn, error
	Format string `mapstructure:"format"` // text or json
}

// Routing holds the router's defaults; routes may override them.
type Routing struct {
	// Timeout is Tx: how long a forwarded request waits for its answer
	// before it is failed over to an alternate peer.
	Timeout time.Duration `mapstructure:"timeout"`
	// Retries is how many alternate peers a request may be resent to.
	Retries int `mapstructure:"retries"`
	// FailoverOnBusy resends requests answered 3004 DIAMETER_TOO_BUSY to
	// an alternate peer.
	FailoverOnBusy bool `mapstructure:"failover_on_busy"`
	// FollowRedirects resends requests answered 3006 to the named host.
	FollowRedirects bool `mapstructure:"follow_redirects"`
}

// Route is one entry of the realm routing table.
type Route struct {
	Name string `mapstructure:"name"`
	// Realm: "example.net" exactly, "*.example.net" for the realms under
	// it, "*" for the default route.
	Realm string `mapstructure:"realm"`
	// Application is an Application-Id, or "*" (the default) for any.
	Application string `mapstructure:"application"`
	// Commands narrows the route to these command codes.
	Commands []uint32 `mapstructure:"commands"`
	// OriginHost and OriginRealm narrow the route to one origin.
	OriginHost  string `mapstructure:"origin_host"`
	OriginRealm string `mapstructure:"origin_realm"`
	// Action: local, relay, proxy or redirect.
	Action string `mapstructure:"action"`
	// Peers are the next hops for relay and proxy.
	Peers []RoutePeer `mapstructure:"peers"`
	// Timeout and Retries override routing.timeout and routing.retries.
	Timeout time.Duration `mapstructure:"timeout"`
	Retries *int          `mapstructure:"retries"`
	// Sticky keeps a Session-Id on one peer while it is up (default true).
	Sticky   *bool    `mapstructure:"sticky"`
	Redirect Redirect `mapstructure:"redirect"`
}

// RoutePeer is one next hop of a route.
type RoutePeer struct {
	Host     string `mapstructure:"host"`
	Priority int    `mapstructure:"priority"`
	Weight   int    `mapstructure:"weight"`
}

// Redirect is what a redirect route answers.
type Redirect struct {
	// Hosts are DiameterURIs, e.g. "aaa://hss2.example.net:3868".
	Hosts []string `mapstructure:"hosts"`
	// Usage is the Redirect-Host-Usage: DONT_CACHE, ALL_SESSION,
	// ALL_REALM, REALM_AND_APPLICATION, ALL_APPLICATION, ALL_HOST, ALL_USER.
	Usage        string        `mapstructure:"usage"`
	MaxCacheTime time.Duration `mapstructure:"max_cache_time"`
}
