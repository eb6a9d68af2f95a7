package wire

// Base protocol AVP codes (RFC 6733 §4.5) used by the agent. The code
// constants in this file are untyped so they compare with any integer type.
const (
	AVPUserName                    = 1
	AVPProxyState                  = 33
	AVPHostIPAddress               = 257
	AVPAuthApplicationID           = 258
	AVPAcctApplicationID           = 259
	AVPVendorSpecificApplicationID = 260
	AVPRedirectHostUsage           = 261
	AVPRedirectMaxCacheTime        = 262
	AVPSessionID                   = 263
	AVPOriginHost                  = 264
	AVPSupportedVendorID           = 265
	AVPVendorID                    = 266
	AVPFirmwareRevision            = 267
	AVPResultCode                  = 268
	AVPProductName                 = 269
	AVPDisconnectCause             = 273
	AVPOriginStateID               = 278
	AVPFailedAVP                   = 279
	AVPProxyHost                   = 280
	AVPErrorMessage                = 281
	AVPRouteRecord                 = 282
	AVPDestinationRealm            = 283
	AVPProxyInfo                   = 284
	AVPRedirectHost                = 292
	AVPDestinationHost             = 293
	AVPErrorReportingHost          = 294
	AVPOriginRealm                 = 296
	AVPExperimentalResult          = 297
	AVPExperimentalResultCode      = 298
	AVPInbandSecurityID            = 299
)

// Command codes used by the agent.
const (
	CmdCapabilitiesExchange = 257
	CmdReAuth               = 258
	CmdAccounting           = 271
	CmdCreditControl        = 272
	CmdAbortSession         = 274
	CmdSessionTermination   = 275
	CmdDeviceWatchdog       = 280
	CmdDisconnectPeer       = 282
)

// Result-Code values (RFC 6733 §7.1).
const (
	// Success (2xxx).
	ResultSuccess        = 2001
	ResultLimitedSuccess = 2002

	// Protocol errors (3xxx); answers carry the E bit.
	ResultCommandUnsupported     = 3001
	ResultUnableToDeliver        = 3002
	ResultRealmNotServed         = 3003
	ResultTooBusy                = 3004
	ResultLoopDetected           = 3005
	ResultRedirectIndication     = 3006
	ResultApplicationUnsupported = 3007
	ResultInvalidHdrBits         = 3008
	ResultInvalidAVPBits         = 3009
	ResultUnknownPeer            = 3010

	// Transient failures (4xxx).
	ResultAuthenticationRejected = 4001
	ResultOutOfSpace             = 4002
	ResultElectionLost           = 4003

	// Permanent failures (5xxx).
	ResultAVPUnsupported        = 5001
	ResultUnknownSessionID      = 5002
	ResultAuthorizationRejected = 5003
	ResultInvalidAVPValue       = 5004
	ResultMissingAVP            = 5005
	ResultResourcesExceeded     = 5006
	ResultContradictingAVPs     = 5007
	ResultAVPNotAllowed         = 5008
	ResultAVPOccursTooManyTimes = 5009
	ResultNoCommonApplication   = 5010
	ResultUnsupportedVersion    = 5011
	ResultUnableToComply        = 5012
	ResultInvalidBitInHeader    = 5013
	ResultInvalidAVPLength      = 5014
	ResultInvalidMessageLength  = 5015
	ResultInvalidAVPBitCombo    = 5016
	ResultNoCommonSecurity      = 5017
)

// IsProtocolError reports whether code is a protocol error (3xxx), whose
// answers carry the E bit.
func IsProtocolError(code uint32) bool { return code >= 3000 && code < 4000 }
