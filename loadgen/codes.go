package loadgen

// Application-Ids of the request mixes.
const (
	AppNASREQ         = 1 // RFC 7155
	AppBaseAccounting = 3 // RFC 6733 §9
	AppCreditControl  = 4 // RFC 4006 (Gy/Ro)
)

// Command codes of the request mixes (the base ones are in package wire).
const (
	CmdAA = 265 // AAR/AAA, RFC 7155
)

// AVP codes used by the mixes and the server, beyond the base ones of
// package wire.
const (
	avpUserPassword          = 2   // RFC 7155, OctetString
	avpNASIdentifier         = 32  // RFC 7155, UTF8String
	avpAuthRequestType       = 274 // Enumerated
	avpTerminationCause      = 295 // Enumerated
	avpCCRequestNumber       = 415 // Unsigned32
	avpCCRequestType         = 416 // Enumerated
	avpCCTotalOctets         = 421 // Unsigned64
	avpGrantedServiceUnit    = 431 // Grouped
	avpRatingGroup           = 432 // Unsigned32
	avpRequestedServiceUnit  = 437 // Grouped
	avpSubscriptionID        = 443 // Grouped
	avpSubscriptionIDData    = 444 // UTF8String
	avpUsedServiceUnit       = 446 // Grouped
	avpSubscriptionIDType    = 450 // Enumerated
	avpMultipleServicesInd   = 455 // Enumerated
	avpMSCC                  = 456 // Multiple-Services-Credit-Control, Grouped
	avpServiceContextID      = 461 // UTF8String
	avpAccountingRecordType  = 480 // Enumerated
	avpAccountingRecordNum   = 485 // Unsigned32
	avpExperimentalResultVal = 298 // Experimental-Result-Code, Unsigned32
)

// Enumerated values.
const (
	ccrInitial     = 1 // CC-Request-Type INITIAL_REQUEST
	ccrUpdate      = 2 // UPDATE_REQUEST
	ccrTermination = 3 // TERMINATION_REQUEST

	acctStart   = 2 // Accounting-Record-Type START_RECORD
	acctInterim = 3 // INTERIM_RECORD
	acctStop    = 4 // STOP_RECORD

	subscriptionE164       = 0 // Subscription-Id-Type END_USER_E164
	multipleServicesOK     = 1 // MULTIPLE_SERVICES_SUPPORTED
	authorizeAuthenticate  = 3 // Auth-Request-Type AUTHORIZE_AUTHENTICATE
	terminationLogout      = 1 // Termination-Cause DIAMETER_LOGOUT
	disconnectRebooting    = 0 // Disconnect-Cause REBOOTING
	inbandSecurityNone     = 0 // Inband-Security-Id NO_INBAND_SECURITY
	defaultServiceContext  = "32251@3gpp.org"
	defaultProductName     = "draload"
	defaultPassword        = "load-password"
	defaultUserNamePattern = "user%d@load.test"
)

// PadVendorID is the Vendor-Id of the padding AVP of the generic mix: 32473,
// the IANA enterprise number reserved for documentation (RFC 5612), so
// that no real node gives the AVP a meaning. The AVP (code PadAVPCode)
// has the V bit and not the M bit: any node may ignore it.
const (
	PadVendorID = 32473
	PadAVPCode  = 1
)
